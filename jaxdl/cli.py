"""The `jaxdl` command: `jaxdl train` (the main job), `jaxdl gradcheck`, `jaxdl ensemble`,
`jaxdl sweep` and `jaxdl data download`.

Bad option values end with a one-line error (exit status 2); set JAXDL_DEBUG=1 to see
the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import sys
import time
from pathlib import Path

import jaxdl
from jaxdl import recipes
from jaxdl.recipes import TrainConfig


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,100, "
                                         f"got {text!r}") from None


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    """The course's knobs; each defaults to TrainConfig's value (shown in --help)."""
    d = TrainConfig()
    add = parser.add_argument
    add("--dataset", help=f"digits (embedded), mnist, fashion_mnist, cifar10 or tfds:NAME "
                          f"(default {d.dataset})")
    add("--data-dir", help="directory holding the original dataset files (else "
                           "$JAXDL_DATA_DIR or the cache directory)")
    add("--preprocess", choices=recipes.PREPROCESSING, help=f"default {d.preprocess}")
    add("--hidden", type=_int_list, metavar="W1,W2,...",
        help=f"hidden layer widths (default {','.join(map(str, d.hidden))})")
    add("--activation", choices=sorted(jaxdl.nn.activations.BY_NAME),
        help=f"default {d.activation}")
    add("--init", choices=sorted(jaxdl.initializers.BY_NAME), help=f"default {d.init}")
    add("--optimizer", choices=recipes.OPTIMIZERS, help=f"default {d.optimizer}")
    add("--lr", type=float, help=f"learning rate (default {d.lr:g})")
    add("--momentum", type=float, help=f"mu of momentum/nesterov, b1 of adam "
                                       f"(default {d.momentum:g})")
    add("--schedule", choices=recipes.SCHEDULES, help=f"learning-rate schedule "
                                                      f"(default {d.schedule})")
    add("--decay", type=float, help="the schedule's factor, rate or constant (defaults: " +
        ", ".join(f"{k} {v:g}" for k, v in recipes.DEFAULT_DECAY.items()) + ")")
    add("--decay-every", type=int, metavar="EPOCHS", help=f"default {d.decay_every}")
    add("--l2", type=float, help=f"L2 penalty lambda/2 * sum w^2 (default {d.l2:g})")
    add("--l1", type=float, help=f"L1 penalty lambda * sum |w| (default {d.l1:g})")
    add("--dropout", type=float, metavar="KEEP_PROB", dest="keep_prob",
        help="inverted dropout after each hidden layer, keeping this fraction (default off)")
    add("--batchnorm", action="store_true", default=None,
        help="batch norm between each hidden layer and its activation")
    add("--clip-norm", type=float, help="clip gradients to this global norm (default off)")
    add("--epochs", type=int, help=f"default {d.epochs}")
    add("--batch-size", type=int, help=f"default {d.batch_size}")
    add("--early-stopping", type=int, metavar="PATIENCE",
        help="stop after PATIENCE epochs without dev-accuracy improvement; keep the best")
    add("--seed", type=int, help=f"default {d.seed}")


def _config_from_args(args) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.resume:
        config = TrainConfig.load(Path(args.resume) / "config.json")
        changed = sorted(set(given) - {"epochs"})
        if changed:
            raise ValueError(f"--resume takes its settings from {args.resume}/config.json; "
                             f"only --epochs may change (got {', '.join(changed)})")
        return dataclasses.replace(config, **given)
    return TrainConfig(**given)


def _describe(config: TrainConfig, splits) -> str:
    sizes = " / ".join(f"{len(part)} {name}" for name, part in
                       zip(("train", "dev", "test"), splits) if part is not None)
    info = splits.train.info
    widths = "-".join(map(str, (math.prod(info.input_shape),
                                *config.hidden, len(info.classes))))
    extras = [f"{k}={getattr(config, k)}" for k in ("l2", "l1", "keep_prob", "clip_norm")
              if getattr(config, k) not in (0.0, 1.0, None)]
    return (f"{info.name}: {sizes} examples\n"
            f"model: MLP {widths} {config.activation}, {config.init} init"
            f"{', batchnorm' if config.batchnorm else ''}; {config.optimizer} lr={config.lr:g}"
            f" ({config.schedule}){'; ' + ', '.join(extras) if extras else ''}")


def _draw(what: str, draw) -> bool:
    """Run `draw(plots)`; without matplotlib (the `plot` extra) say that `what` was skipped."""
    from jaxdl import plots
    try:
        draw(plots)
    except ImportError as error:
        print(f"jaxdl: {error}; skipped {what}", file=sys.stderr)
        return False
    return True


def _write_outputs(out: Path, config: TrainConfig, result, seconds: float) -> bool:
    """Write the run's files to `out`; False when the plot was skipped."""
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.json")
    (out / "history.json").write_text(json.dumps(result.history, indent=1) + "\n")
    summary = {"final": result.final, "best_epoch": result.best_epoch,
               "stopped": result.stopped, "message": result.message,
               "initial_loss": result.initial_loss, "seconds": seconds}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return _draw("training.png", lambda plots: plots.training_curves(
        result.history, out / "training.png",
        title=f"{config.dataset}: {config.optimizer} lr={config.lr:g}"))


def cmd_train(args) -> int:
    from jaxdl import data, losses, train

    config = _config_from_args(args)
    out = Path(args.resume or args.out) if (args.resume or args.out) else None
    start = time.perf_counter()
    splits = recipes.load_data(config)
    steps_per_epoch = data.num_batches(len(splits.train), config.batch_size)
    print(_describe(config, splits))
    model = recipes.model(config, len(splits.train.info.classes))
    opt = recipes.optimizer(config, steps_per_epoch)
    monitor = _monitor(config, splits, model, opt) if args.diagnostics else None
    result = train.fit(
        model, opt, losses.softmax_cross_entropy, splits,
        key=recipes.keys(config)[1], epochs=config.epochs, batch_size=config.batch_size,
        regularizer=recipes.regularizer(config), early_stopping=config.early_stopping,
        checkpoint_dir=out, resume=bool(args.resume), config=config.to_json(),
        verbose=not args.quiet, callbacks=[monitor] if monitor else [])
    seconds = time.perf_counter() - start
    epochs_run = result.history["epoch"][-1] if result.history.get("epoch") else 0
    print(f"trained {epochs_run} epochs in {seconds:.1f} s ({result.stopped}; best dev epoch "
          f"{result.best_epoch})")
    print("accuracy  " + "  ".join(f"{name} {m['accuracy']:.4f}"
                                   for name, m in result.final.items()))
    if out is not None:
        drawn = _write_outputs(out, config, result, seconds)
        print(f"wrote {out}/config.json, history.json, results.json, checkpoint.npz"
              + (", training.png" if drawn else ""))
    if monitor is not None:
        _report_diagnostics(monitor, result, len(splits.train.info.classes), out)
    return 0 if result.stopped not in ("nan", "exploding") else 1


PROBE_EXAMPLES = 256  # the fixed probe batch of `jaxdl train --diagnostics`


def _monitor(config: TrainConfig, splits, model, opt):
    """A TrainingMonitor on the first PROBE_EXAMPLES training examples; the untrained
    network is recorded as epoch 0 (fit starts from the same init_state)."""
    from jaxdl import diagnostics, losses, train
    x, y = splits.train.x[:PROBE_EXAMPLES], splits.train.y[:PROBE_EXAMPLES]
    monitor = diagnostics.TrainingMonitor(model, losses.softmax_cross_entropy, x, y, opt=opt,
                                          regularizer=recipes.regularizer(config))
    monitor(0, train.init_state(model, opt, x.shape[1:], key=recipes.keys(config)[1]), None)
    return monitor


def _report_diagnostics(monitor, result, num_classes: int, out: Path | None) -> None:
    """Print the sanity checks and the monitors' advice; write the monitor plots to `out`."""
    from jaxdl import diagnostics
    print("diagnostics: " + diagnostics.initial_loss_check(result.initial_loss,
                                                           num_classes).message)
    flags = diagnostics.diagnose_history(result.history, initial_loss=result.initial_loss,
                                         stopped=result.stopped)
    for line in [*flags.values(), *monitor.advice()] or ["the monitors see nothing wrong"]:
        print(f"diagnostics: {line}")
    if out is None:
        return
    paths = []
    if _draw("the diagnostics plots", lambda plots: paths.extend(
            plots.diagnostics_plots(result.history, monitor.histograms, out))):
        print(f"wrote {', '.join(path.name for path in paths)} to {out}")


def cmd_gradcheck(args) -> int:
    """Gradient check of the configured model on a few training examples (exit 1 unless
    the verdict is correct or inspect)."""
    import jax
    from jaxdl import diagnostics, train

    from jaxdl._checks import check_positive_int
    check_positive_int("gradcheck", "examples", args.examples)
    config = _config_from_args(args)
    splits = recipes.load_data(config)
    model = recipes.model(config, len(splits.train.info.classes))
    x, y = splits.train.x[:args.examples], splits.train.y[:args.examples]
    key = recipes.keys(config)[1]
    state = train.init_state(model, recipes.optimizer(config, 1), x.shape[1:], key=key)
    dropout = config.keep_prob < 1.0
    print(_describe(config, splits))
    print(f"batch: the first {len(x)} training examples; the initial parameters of "
          f"`jaxdl train --seed {config.seed}`" + ("; dropout with the fixed mask of the "
                                                   "first step" if dropout else ""))
    report = diagnostics.check_model_gradients(
        model, state.params, state.model_state, x, y, regularizer=recipes.regularizer(config),
        key=train.step_key(state) if dropout else None, eps=args.eps, n=args.coords,
        subset_key=jax.random.fold_in(key, 1))
    print(report)
    return 0 if report.verdict in ("correct", "inspect") else 1


# ----------------------------------------------------------------------------- ensemble, sweep

SWEEPABLE = {"lr": "--lr", "momentum": "--momentum", "decay": "--decay", "l2": "--l2",
             "l1": "--l1", "keep_prob": "--dropout", "init_scale": "--init-scale"}


def _add_member_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `jaxdl ensemble` and `jaxdl sweep`."""
    from jaxdl import ensemble
    add = parser.add_argument
    add("--strategy", choices=ensemble.STRATEGIES, default="auto",
        help="vmap: one program on one device; devices: members split over all devices; "
             "sequential: one member after another; auto (default): devices, with a CPU "
             "split into --host-devices devices")
    add("--host-devices", type=int, metavar="N", help="with --strategy auto or devices: "
        "split a CPU into N devices (default: one per core)")
    add("--chunk-size", type=int, metavar="N", help="members vmapped together (default: "
        "as many as fit a cache budget on CPU, all on accelerators)")
    add("--members-per-call", type=int, metavar="N", help="train N members at a time, all "
        "epochs, then the next N (bounds memory; default all)")
    add("--out", metavar="DIR", help="write JSON, markdown and a PNG here")
    add("--quiet", action="store_true", help="no progress bar")


def _with_hparams(config: TrainConfig, hp: dict) -> TrainConfig:
    """`config` with its fields named in `hp` replaced (values may be traced)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return dataclasses.replace(config, **{k: v for k, v in hp.items() if k in fields})


def _recipe_builders(config: TrainConfig, num_classes: int, steps_per_epoch: int):
    """(model, make_opt, regularizer) of the recipes, as functions of the hyperparameters."""
    def model(hp):
        return recipes.model(_with_hparams(config, hp), num_classes,
                             init_scale=hp.get("init_scale", 1.0))

    def make_opt(hp):
        return recipes.optimizer(_with_hparams(config, hp), steps_per_epoch)

    def regularizer(hp):
        return recipes.regularizer(_with_hparams(config, hp))
    return model, make_opt, regularizer


def _member_run_options(args) -> dict:
    """ensemble.fit/sweep options of the command line; for --strategy devices, first split
    the CPU into --host-devices devices (only possible before JAX starts)."""
    if args.strategy in ("auto", "devices"):
        from jaxdl import ensemble
        try:
            ensemble.use_host_devices(args.host_devices)
        except RuntimeError as error:  # JAX already runs (e.g. main() called from Python)
            if args.strategy == "devices":
                print(f"jaxdl: {error}; using those", file=sys.stderr)
    return dict(strategy=args.strategy, chunk_size=args.chunk_size,
                members_per_call=args.members_per_call, verbose=not args.quiet)


def _write_member_outputs(out: Path, name: str, payload: dict, markdown: str, draw) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown)
    drawn = _draw(f"{name}.png", lambda plots: draw(plots, out / f"{name}.png"))
    print(f"wrote {out}/{name}.json, {name}.md" + (f", {name}.png" if drawn else ""))


def cmd_ensemble(args) -> int:
    import jax
    from jaxdl import data, ensemble, losses
    from jaxdl._checks import check_positive_int

    members = check_positive_int("ensemble", "members", args.members)
    run_options = _member_run_options(args)  # before any JAX operation
    config = _config_from_args(args)
    start = time.perf_counter()
    splits = recipes.load_data(config)
    steps_per_epoch = data.num_batches(len(splits.train), config.batch_size)
    print(_describe(config, splits))
    strategy = args.strategy
    if strategy == "auto":
        strategy = "devices" if len(jax.devices()) > 1 else "vmap"
    devices = f" on {len(jax.devices())} devices" if strategy == "devices" else ""
    print(f"ensemble: {members} members, strategy {strategy}{devices}, "
          f"{'one shared' if args.same_order else 'its own'} data order each"
          f"{', bootstrap samples' if args.bootstrap else ''}")
    result = ensemble.fit(
        recipes.model(config, len(splits.train.info.classes)),
        recipes.optimizer(config, steps_per_epoch), losses.softmax_cross_entropy, splits,
        key=recipes.keys(config)[1], members=members, epochs=config.epochs,
        batch_size=config.batch_size, regularizer=recipes.regularizer(config),
        early_stopping=config.early_stopping, same_order=args.same_order,
        bootstrap=args.bootstrap, **run_options)
    seconds = time.perf_counter() - start
    parts = {name: part for name, part in (("dev", splits.dev), ("test", splits.test))
             if part is not None}
    accuracy = {name: ensemble.accuracies(result, part) for name, part in parts.items()}
    rows = [{"member": row["member"], "best_epoch": row["best_epoch"],
             "stopped": row["stopped"],
             **{f"{name}_acc": float(accuracy[name]["members"][i]) for name in parts}}
            for i, row in enumerate(result.table)]
    labels = {"mean_member": "mean member", "selected_member": "dev-selected member",
              "best_member": "best member",
              **{rule: f"vote {rule}" for rule in ensemble.VOTES}}
    voted = [{"": label, **{f"{name}_acc": accuracy[name][key] for name in parts}}
             for key, label in labels.items()]
    members_md, voted_md = ensemble.markdown_table(rows), ensemble.markdown_table(voted)
    print(f"trained {members} members in {seconds:.1f} s\n\n{members_md}\n{voted_md}")
    if args.out:
        payload = {"config": config.to_json(), "seconds": seconds,
                   "table": ensemble.to_json(result)["table"],
                   "accuracy": {name: {k: (v.tolist() if hasattr(v, "tolist") else v)
                                       for k, v in acc.items()}
                                for name, acc in accuracy.items()}}
        markdown = (f"# {config.dataset}: ensemble of {members}\n\n{members_md}\n"
                    f"{voted_md}")
        _write_member_outputs(Path(args.out), "ensemble", payload, markdown,
                              lambda plots, path: plots.ensemble_accuracy(
                                  accuracy, path, title=f"{config.dataset}: {members} members"))
    return 0


def _split_sweep_values(args) -> tuple[argparse.Namespace, dict]:
    """(args with fixed numbers, space of the ranges): each sweepable option is a number
    or a range LOW:HIGH[:log|:1-log]."""
    from jaxdl import tune
    fixed, space = {}, {}
    for name, flag in SWEEPABLE.items():
        text = getattr(args, name, None)
        if text is None:
            continue
        try:
            if ":" in text:
                space[name] = tune.parse_range(text)
            else:
                fixed[name] = float(text)
        except ValueError as error:
            raise ValueError(f"{flag}: {error}") from None
    return argparse.Namespace(**{**vars(args), **fixed, **{n: None for n in space}}), space


def cmd_sweep(args) -> int:
    from jaxdl import data, ensemble, losses, tune
    from jaxdl._checks import check_choice, check_positive_int

    run_options = _member_run_options(args)  # before any JAX operation
    args, space = _split_sweep_values(args)
    trials = check_positive_int("sweep", "trials", args.trials)
    top = check_positive_int("sweep", "top", args.top)
    check_choice("sweep", "search", args.search, ("random", "grid"))
    if not space:
        raise ValueError("sweep: give at least one range, e.g. --lr 1e-4:1e-2:log")
    init_scale = args.init_scale if "init_scale" not in space else None
    config = _config_from_args(args)
    start = time.perf_counter()
    splits = recipes.load_data(config)
    steps_per_epoch = data.num_batches(len(splits.train), config.batch_size)
    model, make_opt, regularizer = _recipe_builders(config, len(splits.train.info.classes),
                                                    steps_per_epoch)
    if init_scale is not None:
        model = functools.partial(_scaled_model, model, float(init_scale))
    print(_describe(config, splits))
    print("sweep: " + ", ".join(f"{n} {d.kind} [{d.low:g}, {d.high:g}]"
                                for n, d in space.items()) + f"; {trials} {args.search} trials")
    options = dict(key=recipes.keys(config)[1], epochs=config.epochs,
                   batch_size=config.batch_size, seeds=args.seeds, regularizer=regularizer,
                   early_stopping=config.early_stopping, **run_options)
    if args.search == "random":
        found = tune.random_search(model, make_opt, losses.softmax_cross_entropy, splits,
                                   space=space, trials=trials, **options)
    else:
        points = max(2, round(trials ** (1 / len(space))))
        found = tune.grid_search(model, make_opt, losses.softmax_cross_entropy, splits,
                                 space=space, points=points, **options)
    seconds = time.perf_counter() - start
    shown = ["trial", *space, "seed", "best_epoch", "stopped", "best_dev_accuracy",
             "final_dev_accuracy", "test_accuracy"]
    best_rows = found.top(top)
    table = ensemble.markdown_table(best_rows, [c for c in shown if c in best_rows[0]])
    diverged = sum(row["stopped"] in ("nan", "exploding") for row in found.table)
    print(f"trained {len(found.table)} members in {seconds:.1f} s; {diverged} diverged\n\n"
          f"top {len(best_rows)} of {len(found.table)} trials by {found.monitor}:\n{table}")
    if args.out:
        payload = {"config": config.to_json(), "seconds": seconds, **tune.to_json(found)}
        logs = {n: d.kind != "uniform" for n, d in space.items()}
        _write_member_outputs(Path(args.out), "sweep", payload,
                              f"# {config.dataset}: sweep\n\n{table}",
                              lambda plots, path: plots.sweep_scatter(
                                  found.table, list(space), path, metric=found.monitor,
                                  log=logs, title=f"{config.dataset}: {trials} trials"))
    return 0


def _scaled_model(model, init_scale: float, hp: dict):
    """`model` with a fixed --init-scale (a number rather than a range)."""
    return model({**hp, "init_scale": init_scale})


def cmd_data_download(args) -> int:
    from jaxdl import data
    paths = data.download(args.name, args.dir, progress=not args.quiet)
    for path in paths:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxdl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"jaxdl {jaxdl.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train_parser = commands.add_parser(
        "train", help="train an MLP (default: on the embedded digits, in seconds)",
        description="Train an MLP; prints train/dev/test accuracy.")
    _add_train_options(train_parser)
    train_parser.add_argument("--out", metavar="DIR", help="write config.json, history.json, "
                              "results.json, checkpoint.npz and training.png here")
    train_parser.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR "
                              "(its config.json and checkpoint.npz)")
    train_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    train_parser.add_argument("--diagnostics", action="store_true",
                              help="record per-layer gradient norms, update/weight ratios, "
                              "activation statistics and histograms every epoch; print advice "
                              "and write their plots into --out")
    train_parser.set_defaults(run=cmd_train)

    gradcheck = commands.add_parser(
        "gradcheck", help="check the model's gradients against finite differences",
        description="Gradient check (float64, centered differences) of the training model "
                    "on a few examples; exit status 1 unless the verdict is correct/inspect.")
    _add_train_options(gradcheck)
    gradcheck.add_argument("--examples", type=int, default=16,
                           help="batch size of the check (default 16)")
    gradcheck.add_argument("--coords", type=int, metavar="N",
                           help="check a random subset of N parameters (default: all)")
    gradcheck.add_argument("--eps", type=float, default=1e-7, help="default 1e-7")
    gradcheck.set_defaults(run=cmd_gradcheck, resume=None)

    ensemble_parser = commands.add_parser(
        "ensemble", help="train K members in one compiled program and vote",
        description="Train an ensemble of MLPs (member i: key fold_in(key, i)); prints "
                    "per-member and voted accuracy (hard, mean_prob, confidence).")
    _add_train_options(ensemble_parser)
    ensemble_parser.add_argument("--members", type=int, default=16, help="default 16")
    ensemble_parser.add_argument("--same-order", action="store_true",
                                 help="every member sees the same batches")
    ensemble_parser.add_argument("--bootstrap", action="store_true",
                                 help="each member trains on its own bootstrap sample")
    _add_member_options(ensemble_parser)
    ensemble_parser.set_defaults(run=cmd_ensemble, resume=None)

    sweep_parser = commands.add_parser(
        "sweep", help="hyperparameter search, all trials vmapped in one program",
        description="Random (or jittered grid) search over the ranges given as "
                    "LOW:HIGH (uniform), LOW:HIGH:log or LOW:HIGH:1-log (1 - x log-uniform, "
                    "for momentum); prints the top trials.")
    _add_train_options(sweep_parser)
    sweep_parser.add_argument("--init-scale", help="multiplier of the initial weights "
                              "(default 1)")
    for action in sweep_parser._actions:  # sweepable options take a number or a range
        if action.dest in SWEEPABLE:
            action.type, action.metavar = str, "X|LOW:HIGH[:log]"
    sweep_parser.add_argument("--trials", type=int, default=32, help="default 32")
    sweep_parser.add_argument("--search", default="random", choices=("random", "grid"),
                              help="random, or a grid with jitter (default random)")
    sweep_parser.add_argument("--seeds", type=int, default=1,
                              help="seeds per trial (default 1)")
    sweep_parser.add_argument("--top", type=int, default=10, help="rows to print (default 10)")
    _add_member_options(sweep_parser)
    sweep_parser.set_defaults(run=cmd_sweep, resume=None)

    data_parser = commands.add_parser("data", help="dataset files")
    data_commands = data_parser.add_subparsers(dest="data_command", required=True,
                                               metavar="ACTION")
    download = data_commands.add_parser("download", help="download and verify a dataset's "
                                        "original files")
    download.add_argument("name", help="mnist, fashion_mnist or cifar10")
    download.add_argument("--dir", help="target directory (default: $JAXDL_DATA_DIR or the "
                                        "cache directory)")
    download.add_argument("--quiet", action="store_true")
    download.set_defaults(run=cmd_data_download)
    return parser


def enable_compilation_cache() -> None:
    """Keep compiled programs in $XDG_CACHE_HOME/jaxdl/xla (JAX's persistent cache), so a
    repeated run skips XLA compilation; JAXDL_COMPILATION_CACHE=0 turns it off."""
    if os.environ.get("JAXDL_COMPILATION_CACHE", "1") == "0":
        return
    import jax
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jaxdl" / "xla"
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    enable_compilation_cache()
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as error:
        if os.environ.get("JAXDL_DEBUG"):
            raise
        print(f"jaxdl {args.command}: error: {error or type(error).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
