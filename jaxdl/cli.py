"""The `jaxdl` command: `jaxdl train` (the main job), `jaxdl gradcheck`, `jaxdl ensemble`,
`jaxdl sweep`, `jaxdl lr-find`, `jaxdl predict`/`evaluate` and `jaxdl data download`.

Exit statuses:
  0    done;
  1    the run diverged (NaN/inf or exploding loss; for ensemble/sweep: every member), or
       `gradcheck`'s verdict is not correct/inspect;
  2    bad input: an option value, an unusable --out/--resume directory (checked before
       training), a run directory in use by another jaxdl process, a failed write;
  130  interrupted by SIGINT (Ctrl-C) or SIGTERM (SLURM, CI): what was trained is written
       and `jaxdl train` prints the command that resumes.
Errors end with one line on stderr; set JAXDL_DEBUG=1 to see the traceback instead.

Run directories: `train --out DIR` writes config.json and preprocessing.npz first (so a
killed run can be resumed, and `jaxdl predict DIR` / `jaxdl.load_run(DIR)` preprocess new
inputs alike), then checkpoint.npz (--checkpoint-every, by default at most every 5 s, and
after the last epoch), then history.json, results.json and the plots;
every file is written atomically. An existing run in DIR is not overwritten unless
--overwrite is given. While a command writes into DIR it holds an exclusive lock on
DIR/.jaxdl.lock (released when the process ends, however it ends).
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import dataclasses
import errno
import functools
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import jaxdl
from jaxdl import recipes, runs
from jaxdl._io import atomic_write
from jaxdl.recipes import TrainConfig

EXIT_OK, EXIT_DIVERGED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
DIVERGED = ("nan", "exploding")
# the numeric settings `train --resume DIR` may change (babysitting), recorded in the history
RESUMABLE = {"lr": "--lr", "momentum": "--momentum", "decay": "--decay", "l2": "--l2",
             "l1": "--l1"}
LOCK_FILE = ".jaxdl.lock"
CONFIG_FILE, CHECKPOINT_FILE = "config.json", "checkpoint.npz"
# the files of a `jaxdl train` run directory (what --overwrite removes)
RUN_FILES = (CONFIG_FILE, CHECKPOINT_FILE, "preprocessing.npz", "history.json",
             "results.json", "training.png",
             "gradient_norms.png", "update_ratios.png", "activation_std.png",
             "activation_histograms.png", "weight_histograms.png")


# ----------------------------------------------------------------------------- interrupts


class _Interrupts:
    """While active (in the main thread): SIGINT and SIGTERM raise KeyboardInterrupt, and
    `received` names the first one. A KeyboardInterrupt that Python cannot propagate (the
    handler ran inside a gc callback, such as JAX's, or a __del__: Python prints "Exception
    ignored" and carries on) is delivered again, so an early Ctrl-C is never swallowed.
    The previous handlers are restored on exit."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: str | None = None
        self._redelivering = False
        self._previous: dict = {}
        self._previous_hook = None

    def _handler(self, signum, frame):
        self.received = self.received or signal.Signals(signum).name
        if frame is not None and frame.f_code is _Interrupts._unraisable.__code__:
            return self._deliver_again()  # raising in the hook would be ignored too
        self._redelivering = False
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def _unraisable(self, unraisable):
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            return self._previous_hook(unraisable)
        if not self._redelivering:
            self._redelivering = True
            self._deliver_again()

    def _deliver_again(self) -> None:
        """Signal the main thread again from a helper thread, once the code running now
        (a gc callback, this hook) has returned: the handler then raises in normal code."""
        number = getattr(signal, self.received or "SIGINT")
        timer = threading.Timer(0.005, _thread.interrupt_main, (number,))
        timer.daemon = True
        timer.start()

    def __enter__(self):
        if not self.enabled:
            return self
        for name in self.SIGNALS:
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
                self._previous[number] = signal.signal(number, self._handler)
        self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def __exit__(self, *exc):
        if self.enabled:
            sys.unraisablehook = self._previous_hook
            for number, handler in self._previous.items():
                signal.signal(number, handler)
        return False

    def by(self) -> str:
        """" by SIGTERM" etc. (empty when no signal was seen)."""
        return f" by {self.received}" if self.received else ""


# ----------------------------------------------------------------------------- directories


def _reason(error: OSError) -> str:
    """The plain-words cause of an OSError (no errno number, no repeated path)."""
    if error.errno == errno.ENOSPC:
        return "no space left on the device"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.EROFS:
        return "read-only file system"
    text = error.strerror or str(error) or type(error).__name__
    return text[:1].lower() + text[1:]


def _usable_dir(path: Path, option: str) -> Path:
    """`path` as a directory jaxdl can write into: created if missing, then tested by
    writing and fsyncing a temporary file. Else a ValueError naming `option` and `path`."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{option} {path}: cannot create the directory ({_reason(error)}); "
                         "give a directory you can write to") from None
    try:
        probe = path / f".jaxdl-write-test-{os.getpid()}"
        with atomic_write(probe) as file:
            file.write(b"\0" * 4096)
        probe.unlink(missing_ok=True)
    except OSError as error:
        advice = ("free some space or give another directory" if error.errno == errno.ENOSPC
                  else "give a directory you can write to")
        raise ValueError(f"{option} {path} is not writable ({_reason(error)}); "
                         f"{advice}") from None
    return path


def _lock(directory: Path, stack: contextlib.ExitStack) -> None:
    """Hold an exclusive lock on `directory`/.jaxdl.lock (holding our pid) until `stack`
    closes; the OS releases it when the process dies. A ValueError when another process
    holds it. (Without fcntl, as on Windows, directories are not locked.)"""
    try:
        import fcntl
    except ImportError:
        return
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ValueError(f"cannot lock {directory} ({_reason(error)} on {path}); give a "
                         "directory you can write to") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ValueError(f"{directory} is in use by another jaxdl process (pid {pid}); wait "
                         "for it to end or give another directory") from None
    stack.callback(os.close, fd)  # closing the descriptor releases the lock
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())


def _open_dir(path, option: str, stack: contextlib.ExitStack) -> Path:
    """`path` checked as a writable directory (`_usable_dir`) and locked (`_lock`)."""
    path = _usable_dir(Path(path), option)
    _lock(path, stack)
    return path


def _write(path: Path, text: str) -> None:
    """Write `text` to `path` atomically; an OSError names the file and the cause."""
    try:
        with atomic_write(path) as file:
            file.write(text.encode())
    except OSError as error:
        raise OSError(f"could not write {path} ({_reason(error)})") from None


def _resume_command(out: Path, config: TrainConfig) -> str:
    return f"jaxdl train --resume {shlex.quote(str(out))} --epochs {config.epochs}"



def _keep_probs(text: str) -> float | tuple[float, ...]:
    """One keep probability for every layer ("0.8") or one per hidden layer ("0.8,0.5")."""
    try:
        values = tuple(_finite(part) for part in text.split(","))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected a number or comma-separated numbers like "
                                         f"0.8,0.5, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def _voters(text: str) -> str:
    """--voters: "all", "best" or "topK" (K >= 1), as `ensemble.voters` takes them."""
    if text in ("all", "best") or (text.startswith("top") and text[3:].isdigit()
                                    and int(text[3:]) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"expected all, best or topK like top3, got {text!r}")


def _checkpoint_every(text: str) -> tuple[int, float | None]:
    """--checkpoint-every: "N" epochs or "Ns" seconds, as fit's (checkpoint_every,
    checkpoint_seconds)."""
    try:
        if text.endswith("s"):
            seconds = float(text[:-1])
            if math.isfinite(seconds) and seconds >= 0:
                return 1, seconds
        elif int(text) >= 1:
            return int(text), None
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected a number of epochs like 5 or of seconds like "
                                     f"30s, got {text!r}")


def _finite(text: str) -> float:
    """A finite number (inf and nan are refused here, with the option's name)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    try:  # every part an integer: "128,,64" is refused, not read as 128,64
        return tuple(int(part) for part in text.split(","))
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
    add("--preprocess", choices=recipes.PREPROCESSING,
        help="default: center (zero mean, no scaling) for the image datasets, standardize "
             "for the others")
    add("--model", choices=recipes.ARCHITECTURES, dest="architecture",
        help="mlp, or cnn: conv 32 - pool - conv 64 - pool (3x3 kernels, 2x2 max pools) "
             f"before the --hidden dense layers (default {d.architecture})")
    add("--hidden", type=_int_list, metavar="W1,W2,...",
        help=f"hidden layer widths (default {','.join(map(str, d.hidden))})")
    add("--activation", choices=sorted(jaxdl.nn.activations.BY_NAME),
        help=f"default {d.activation}")
    add("--init", choices=sorted(jaxdl.initializers.BY_NAME), help=f"default {d.init}")
    add("--optimizer", choices=recipes.OPTIMIZERS, help=f"default {d.optimizer}")
    add("--lr", type=_finite, help=f"learning rate (default {d.lr:g})")
    add("--momentum", type=_finite, help=f"mu of momentum/nesterov, b1 of adam "
                                       f"(default {d.momentum:g})")
    add("--schedule", choices=recipes.SCHEDULES, help=f"learning-rate schedule "
                                                      f"(default {d.schedule})")
    add("--decay", type=_finite, help="the schedule's factor, rate or constant (defaults: " +
        ", ".join(f"{k} {v:g}" for k, v in recipes.DEFAULT_DECAY.items()) + ")")
    add("--decay-every", type=int, metavar="EPOCHS", help=f"default {d.decay_every}")
    add("--l2", type=_finite, help=f"L2 penalty lambda/2 * sum w^2 (default {d.l2:g})")
    add("--l1", type=_finite, help=f"L1 penalty lambda * sum |w| (default {d.l1:g})")
    add("--keep-prob", "--dropout", type=_keep_probs, metavar="P|P1,P2,...", dest="keep_prob",
        help="inverted dropout after the hidden layers, keeping this fraction: one value for "
             "all or one per hidden layer (default off)")
    add("--input-keep-prob", type=_finite, metavar="P",
        help="inverted dropout of the inputs, keeping this fraction (default off)")
    add("--batchnorm", action="store_true", default=None,
        help="batch norm between each hidden layer and its activation")
    add("--clip-norm", type=_finite, help="clip gradients to this global norm (default off)")
    add("--ema-decay", type=_finite, metavar="BETA", help="evaluate and keep the exponential "
        "moving average of the weights, e.g. 0.999 (default off)")
    add("--epochs", type=int, help=f"default {d.epochs}")
    add("--batch-size", type=int, help=f"default {d.batch_size}")
    add("--early-stopping", type=int, metavar="PATIENCE",
        help="stop after PATIENCE epochs without dev-accuracy improvement; keep the best")
    add("--seed", type=int, help=f"default {d.seed}")
    add("--config", metavar="FILE", help="settings from a TOML or JSON file of these options' "
        "names (hidden = [128, 64], lr = 0.01, ...; a run's config.json works); options "
        "given on the command line win")


def _config_file(path) -> dict:
    """The settings in --config FILE: a TOML (.toml) or JSON table of TrainConfig fields."""
    file = Path(path)
    if not file.is_file():
        what = "is not a file" if file.exists() else "does not exist"
        raise ValueError(f"--config {file} {what}; give a TOML or JSON file of settings")
    kind = "TOML" if file.suffix == ".toml" else "JSON"
    try:
        text = file.read_text()
        if kind == "TOML":
            import tomllib
            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:  # TOMLDecodeError is a ValueError
        raise ValueError(f"--config {file}: not valid {kind} ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {file}: expected a table of settings, got a "
                         f"{type(values).__name__}")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"--config {file}: unknown settings {', '.join(unknown)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _config_from_args(args) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if getattr(args, "config", None):
        given = {**_config_file(args.config), **given}
    if args.resume:
        config = TrainConfig.load(_resume_dir(args) / CONFIG_FILE)
        changed = sorted(set(given) - {"epochs", *RESUMABLE})
        if changed:
            raise ValueError(f"--resume takes its settings from {args.resume}/config.json; "
                             f"only --epochs and {', '.join(RESUMABLE.values())} may change "
                             f"(got {', '.join(changed)})")
        return dataclasses.replace(config, **given)
    return TrainConfig(**given)


def _resume_dir(args) -> Path:
    """The --resume directory, checked: a directory, and --out (if given) is the same."""
    run = Path(args.resume)
    if not run.is_dir():
        raise ValueError(f"--resume {run} "
                         f"{'is a file' if run.exists() else 'does not exist'}; give the "
                         "directory of a run written by `jaxdl train --out`")
    out = getattr(args, "out", None)
    if out is not None and Path(out).resolve() != run.resolve():
        raise ValueError(f"--resume {run} continues the run in {run} and writes there; drop "
                         f"--out {out} (to keep the original, copy {run} to {out} and resume "
                         "the copy)")
    return run


def _architecture(config: TrainConfig) -> str:
    if config.architecture == "cnn":
        return "CNN " + " - ".join(f"conv{f} - pool" for f in recipes.CNN_FEATURES) + ", dense"
    return "MLP"


def _describe(config: TrainConfig, splits, swept=()) -> str:
    """The data and model lines every command prints; `swept` names the settings a sweep
    varies (shown as "swept", not as the config's fixed value)."""
    sizes = " / ".join(f"{len(part)} {name}" for name, part in
                       zip(("train", "dev", "test"), splits) if part is not None)
    info = splits.train.info
    widths = "-".join(map(str, (math.prod(info.input_shape),
                                *config.hidden, len(info.classes))))
    extras = [f"{k}={getattr(config, k)}" for k in ("l2", "l1", "input_keep_prob",
                                                    "keep_prob", "clip_norm", "ema_decay")
              if k not in swept and getattr(config, k) not in (0.0, 1.0, None)]
    extras += [f"{k} swept" for k in swept if k != "lr"]
    lr = "lr swept" if "lr" in swept else f"lr={config.lr:g}"
    return (f"{info.name}: {sizes} examples\n"
            f"model: {_architecture(config)} {widths} {config.activation}, {config.init} init"
            f"{', batchnorm' if config.batchnorm else ''}; {config.optimizer} {lr}"
            f" ({config.schedule}){'; ' + ', '.join(extras) if extras else ''}")


def _draw(what: str, draw, out: Path | None = None) -> bool:
    """Run `draw(plots)`; without matplotlib (the `plot` extra) say that `what` was skipped.
    An OSError while saving names `what` in `out`."""
    from jaxdl import plots
    try:
        draw(plots)
    except ImportError as error:
        print(f"jaxdl: {error}; skipped {what}", file=sys.stderr)
        return False
    except OSError as error:
        where = f" in {out}" if out is not None else ""
        raise OSError(f"could not write {what}{where} ({_reason(error)})") from None
    return True


def _summary(result, seconds: float) -> dict:
    return {"final": result.final, "best_epoch": result.best_epoch,
            "stopped": result.stopped, "message": result.message,
            "initial_loss": result.initial_loss, "seconds": seconds}


def _write_outputs(out: Path, config: TrainConfig, result, seconds: float) -> bool:
    """Write the run's files to `out`, each atomically; False when the plot was skipped."""
    _write(out / CONFIG_FILE, json.dumps(config.to_json(), indent=2) + "\n")
    _write(out / "history.json", json.dumps(result.history, indent=1) + "\n")
    _write(out / "results.json", json.dumps(_summary(result, seconds), indent=2) + "\n")
    if not result.history.get("epoch"):
        print("jaxdl: no epoch completed; skipped training.png", file=sys.stderr)
        return False
    return _draw("training.png", out=out, draw=lambda plots: plots.training_curves(
        result.history, out / "training.png",
        title=f"{config.dataset}: {config.optimizer} lr={config.lr:g}"))


def _epochs_done(path: Path) -> int | None:
    """The epochs the checkpoint at `path` holds (None when unreadable: fit says why)."""
    from jaxdl import checkpoint
    try:
        return int(checkpoint.restore(path).metadata["progress"]["epoch"])
    except (checkpoint.CheckpointError, KeyError, TypeError, ValueError, OSError):
        return None


def _train_dir(args, config: TrainConfig, stack: contextlib.ExitStack):
    """(the run directory of `jaxdl train`, checked and locked, with config.json written
    before training so a killed run can be resumed; the epochs its checkpoint holds);
    (None, 0) without --out/--resume.

    --out: a writable directory that holds no run (unless --overwrite: its run files are
    removed); --resume: a run directory with a checkpoint.npz file of at most --epochs
    epochs (fewer epochs than done is refused before anything is written)."""
    done = 0
    if args.resume:
        if args.overwrite:
            raise ValueError("--overwrite starts a run again; --resume continues one: give "
                             "only one of them")
        out = _open_dir(_resume_dir(args), "--resume", stack)
        checkpoint = out / CHECKPOINT_FILE
        if not checkpoint.exists():
            raise ValueError(f"{out} has no {CHECKPOINT_FILE} to resume from (the run "
                             "stopped before saving its first epoch); start it again with "
                             f"`jaxdl train --out {shlex.quote(str(out))} --overwrite`")
        if not checkpoint.is_file():
            raise ValueError(f"{checkpoint} is not a file (a directory?), not a jaxdl "
                             "checkpoint; move it away or use another run directory")
        done = _epochs_done(checkpoint) or 0
        if config.epochs < done:
            raise ValueError(f"--epochs {config.epochs}: the run in {out} has trained {done} "
                             f"epochs already; give --epochs {done} or more to continue it "
                             f"(its {CONFIG_FILE} and {CHECKPOINT_FILE} are unchanged)")
    elif args.out:
        out = _open_dir(args.out, "--out", stack)
        found = [name for name in (CONFIG_FILE, CHECKPOINT_FILE)
                 if (out / name).exists() or (out / name).is_symlink()]
        if found and not args.overwrite:
            cont = (f"continue it with `jaxdl train --resume {shlex.quote(str(out))}`, "
                    if CHECKPOINT_FILE in found else "")
            raise ValueError(f"{out} already holds a run ({', '.join(found)}); {cont}give "
                             "another --out, or pass --overwrite to replace it")
        if args.overwrite:
            for name in RUN_FILES:
                path = out / name
                if path.is_dir() and not path.is_symlink():
                    raise ValueError(f"--overwrite removes the run files of {out}, but {path}"
                                     " is a directory; move it away")
                path.unlink(missing_ok=True)
    else:
        return None, 0
    _write(out / CONFIG_FILE, json.dumps(config.to_json(), indent=2) + "\n")
    return out, done


def cmd_train(args) -> int:
    from jaxdl import data, losses, train

    config = _config_from_args(args)
    interrupts = getattr(args, "interrupts", None) or _Interrupts(enabled=False)
    with contextlib.ExitStack() as stack:
        out, done = _train_dir(args, config, stack)
        start = time.perf_counter()
        try:
            splits, stats = recipes.load_data_and_stats(config)
            if out is not None:  # for `jaxdl predict` / `jaxdl.load_run`
                runs.save_preprocessing(out, config, stats, splits.train.info)
            steps_per_epoch = data.num_batches(len(splits.train), config.batch_size)
            print(_describe(config, splits))
            model = recipes.model(config, len(splits.train.info.classes))
            opt = recipes.optimizer(config, steps_per_epoch)
            monitor = _monitor(config, splits, model, opt) if args.diagnostics else None
            try:
                result = train.fit(
                    model, opt, losses.softmax_cross_entropy, splits,
                    key=recipes.keys(config)[1], epochs=config.epochs,
                    batch_size=config.batch_size, regularizer=recipes.regularizer(config),
                    early_stopping=config.early_stopping, ema_decay=config.ema_decay,
                    checkpoint_dir=out, checkpoint_every=args.checkpoint_every[0],
                    checkpoint_seconds=args.checkpoint_every[1],
                    resume=bool(args.resume), config=config.to_json(),
                    resume_changes=tuple(RESUMABLE) if args.resume else (),
                    verbose=not args.quiet, callbacks=[monitor] if monitor else [])
            except OSError as error:  # the checkpoint's reads and writes
                if out is None:
                    raise
                raise OSError(f"could not save or read the checkpoint in {out} "
                              f"({_reason(error)}); the last one saved there is intact: fix "
                              f"that, then `{_resume_command(out, config)}`") from None
        except KeyboardInterrupt:
            if out is None:
                kept = "nothing was trained"
            elif args.resume:
                kept = (f"the checkpoint in {out} is as it was; continue with: "
                    f"{_resume_command(out, config)}")
            else:  # the files written above belong to no checkpoint: forget them
                (out / CONFIG_FILE).unlink(missing_ok=True)
                (out / runs.PREPROCESSING_FILE).unlink(missing_ok=True)
                kept = f"nothing was trained or written to {out}"
            print(f"jaxdl train: interrupted{interrupts.by()} before the first epoch ended; "
                  f"{kept}", file=sys.stderr)
            return EXIT_INTERRUPTED
        seconds = time.perf_counter() - start
        if args.quiet and result.stopped in DIVERGED:  # fit printed nothing: keep the advice
            print(f"jaxdl: {result.message}", file=sys.stderr)
        interrupted = result.stopped == "interrupted" or interrupts.received is not None
        epochs_run = result.history["epoch"][-1] if result.history.get("epoch") else 0
        if args.resume and epochs_run == done:
            print(f"nothing to train: the run already has {done} epochs (--epochs "
                  f"{config.epochs}; {result.stopped}); wrote its outputs again; give --epochs "
                  f"above {done} to train more")
        else:
            print(f"trained {epochs_run - done} epochs in {seconds:.1f} s"
                  + (f" (epochs {done + 1}-{epochs_run})" if done else "")
                  + f" ({result.stopped}; best dev epoch {result.best_epoch})")
        print("accuracy  " + "  ".join(f"{name} {m['accuracy']:.4f}"
                                       for name, m in result.final.items()))
        if out is not None:
            try:
                drawn = _write_outputs(out, config, result, seconds)
            except OSError as error:
                raise OSError(f"{error}; the checkpoint in {out} is intact: fix that, then "
                              f"`{_resume_command(out, config)}` writes the outputs "
                              "again") from None
            print(f"wrote {out}/config.json, preprocessing.npz, history.json, results.json, "
                  "checkpoint.npz" + (", training.png" if drawn else ""))
        if monitor is not None:
            _report_diagnostics(monitor, result, len(splits.train.info.classes), out)
    if interrupted:
        then = (f"continue with: {_resume_command(out, config)}" if out is not None else
                "nothing was saved (give --out DIR to make a run resumable)")
        at = f"after epoch {epochs_run} of {config.epochs}" if epochs_run else "in epoch 1"
        print(f"jaxdl train: interrupted{interrupts.by()} {at}; {then}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_DIVERGED if result.stopped in DIVERGED else EXIT_OK


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
            plots.diagnostics_plots(result.history, monitor.histograms, out)), out):
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
    dropout = recipes.uses_dropout(config)
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


def cmd_lr_find(args) -> int:
    """The learning-rate range test of the configured model and optimizer (its --lr and
    --schedule replaced by the growing rate); prints the suggestion, writes lr_range.json
    and lr_range.png into --out."""
    from jaxdl import losses
    from jaxdl.diagnostics import lr_range

    config = _config_from_args(args)
    with contextlib.ExitStack() as stack:
        out = _member_dir(args, "lr_range", stack)
        splits = recipes.load_data(config)
        print(_describe(config, splits))

        def make_opt(rate):
            return recipes.optimizer(dataclasses.replace(config, lr=rate, schedule="constant"),
                                     1)
        found = lr_range.lr_range_test(
            recipes.model(config, len(splits.train.info.classes)), make_opt,
            losses.softmax_cross_entropy, splits, key=recipes.keys(config)[1],
            batch_size=config.batch_size, lr_min=args.lr_min, lr_max=args.lr_max,
            steps=args.steps, regularizer=recipes.regularizer(config))
        ended = (f"the loss diverged at lr {found.lrs[found.stop]:.3g} (step {found.stop + 1})"
                 if found.stop < args.steps else "the loss never diverged")
        print(f"lr range test: {args.steps} mini-batches of {config.batch_size}, lr "
              f"{args.lr_min:g} -> {args.lr_max:g}; {ended}\n"
              f"lowest smoothed loss {found.smoothed[:found.stop].min():.4g} at lr "
              f"{found.min_loss_lr:.3g}; suggested lr {found.suggested_lr:.3g} (a tenth of it)")
        if out is not None:
            payload = {"config": config.to_json(), **lr_range.to_json(found)}
            _write(out / "lr_range.json", json.dumps(payload, indent=1) + "\n")
            drawn = _draw("lr_range.png", lambda plots: lr_range.plot(
                found, out / "lr_range.png", title=f"{config.dataset}: {config.optimizer} "
                                                   "learning-rate range test"), out)
            print(f"wrote {out}/lr_range.json" + (", lr_range.png" if drawn else ""))
    return EXIT_OK


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
    add("--out", metavar="DIR", help="write JSON, markdown and a PNG here (checked before "
                                     "training)")
    add("--overwrite", action="store_true", help="replace the outputs already in --out")
    add("--quiet", action="store_true", help="no progress bar")


def _with_hparams(config: TrainConfig, hp: dict) -> TrainConfig:
    """`config` with its fields named in `hp` replaced (values may be traced); each is
    read as hp[name], so `tune.unread_names` sees which names the recipes use."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return dataclasses.replace(config, **{k: hp[k] for k in hp if k in fields})


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


def _member_dir(args, name: str, stack: contextlib.ExitStack) -> Path | None:
    """The --out directory of `jaxdl ensemble`/`sweep`, checked and locked before training
    (None without --out); its `name`.json/.md/.png are not replaced without --overwrite."""
    if not args.out:
        return None
    out = _open_dir(args.out, "--out", stack)
    found = [f"{name}.{ext}" for ext in ("json", "md", "png") if (out / f"{name}.{ext}").exists()]
    if found and not args.overwrite:
        raise ValueError(f"{out} already holds {name} outputs ({', '.join(found)}); give "
                         "another --out, or pass --overwrite to replace them")
    return out


def _write_member_outputs(out: Path, name: str, payload: dict, markdown: str, draw) -> None:
    _write(out / f"{name}.json", json.dumps(payload, indent=1) + "\n")
    _write(out / f"{name}.md", markdown)
    drawn = _draw(f"{name}.png", lambda plots: draw(plots, out / f"{name}.png"), out)
    print(f"wrote {out}/{name}.json, {name}.md" + (f", {name}.png" if drawn else ""))


def _member_exit(command: str, result, rows: list, label: str, interrupts) -> int:
    """The exit status of an ensemble or sweep (and its last line on stderr)."""
    if getattr(result, "stopped", "completed") == "interrupted" or interrupts.received:
        print(f"jaxdl {command}: interrupted{interrupts.by()}; kept the {len(rows)} {label}s "
              "trained so far (at their last finished epoch)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if rows and all(row["stopped"] in DIVERGED for row in rows):
        print(f"jaxdl {command}: every {label} diverged (nan/exploding); lower --lr or add "
              "--clip-norm", file=sys.stderr)
        return EXIT_DIVERGED
    return EXIT_OK


def _before_first_epoch(command: str, interrupts) -> int:
    print(f"jaxdl {command}: interrupted{interrupts.by()} before the first epoch ended; "
          "nothing was trained or written", file=sys.stderr)
    return EXIT_INTERRUPTED


def cmd_ensemble(args) -> int:
    from jaxdl._checks import check_positive_int

    members = check_positive_int("ensemble", "members", args.members)
    if args.voters.startswith("top") and int(args.voters[3:]) > members:
        raise ValueError(f"--voters {args.voters} needs at least {args.voters[3:]} members, got "
                         f"--members {members}")
    run_options = _member_run_options(args)  # before any JAX operation
    config = _config_from_args(args)
    interrupts = getattr(args, "interrupts", None) or _Interrupts(enabled=False)
    with contextlib.ExitStack() as stack:
        out = _member_dir(args, "ensemble", stack)
        return _run_ensemble(args, config, members, run_options, out, interrupts)


def _run_ensemble(args, config, members: int, run_options: dict, out, interrupts) -> int:
    import jax
    from jaxdl import data, ensemble, losses
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
    try:
        result = ensemble.fit(
            recipes.model(config, len(splits.train.info.classes)),
            recipes.optimizer(config, steps_per_epoch), losses.softmax_cross_entropy, splits,
            key=recipes.keys(config)[1], members=members, epochs=config.epochs,
            batch_size=config.batch_size, regularizer=recipes.regularizer(config),
            early_stopping=config.early_stopping, ema_decay=config.ema_decay,
            same_order=args.same_order,
            bootstrap=args.bootstrap, **run_options)
    except KeyboardInterrupt:
        return _before_first_epoch("ensemble", interrupts)
    seconds = time.perf_counter() - start
    parts = {name: part for name, part in (("dev", splits.dev), ("test", splits.test))
             if part is not None}
    accuracy = {name: ensemble.accuracies(result, part, members=args.voters)
                for name, part in parts.items()}
    rows = [{"member": row["member"], "best_epoch": row["best_epoch"],
             "stopped": row["stopped"],
             **{f"{name}_acc": float(accuracy[name]["members"][i]) for name in parts}}
            for i, row in enumerate(result.table)]
    # one member picked on dev, all its columns; no per-column best (a test-set oracle)
    labels = {"mean_member": "mean member",
              "selected_member": f"dev-selected member {result.best_index}",
              **{rule: f"vote {rule}" + (f" ({args.voters})" if args.voters != "all" else "")
                 for rule in ensemble.VOTES}}
    voted = [{"": label, **{f"{name}_acc": accuracy[name][key] for name in parts}}
             for key, label in labels.items()]
    members_md, voted_md = ensemble.markdown_table(rows), ensemble.markdown_table(voted)
    chosen = "" if args.voters == "all" else (
        f"\nvoters ({args.voters} by {result.monitor}): members "
        + ", ".join(map(str, ensemble.voters(result, args.voters))))
    print(f"trained {len(rows)} members in {seconds:.1f} s{chosen}\n\n{members_md}\n{voted_md}")
    if out is not None:
        summary = ensemble.to_json(result)
        payload = {"config": config.to_json(), "seconds": seconds,
                   "best": summary["best"], "table": summary["table"],
                   "accuracy": {name: {k: (v.tolist() if hasattr(v, "tolist") else v)
                                       for k, v in acc.items()}
                                for name, acc in accuracy.items()}}
        markdown = (f"# {config.dataset}: ensemble of {members}\n\n{members_md}\n"
                    f"{voted_md}")
        _write_member_outputs(out, "ensemble", payload, markdown,
                              lambda plots, path: plots.ensemble_accuracy(
                                  accuracy, path, title=f"{config.dataset}: {members} members"))
    return _member_exit("ensemble", result, rows, "member", interrupts)


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
    interrupts = getattr(args, "interrupts", None) or _Interrupts(enabled=False)
    with contextlib.ExitStack() as stack:
        out = _member_dir(args, "sweep", stack)
        return _run_sweep(args, config, space, trials, top, init_scale, run_options, out,
                          interrupts)


def _run_sweep(args, config, space: dict, trials: int, top: int, init_scale, run_options,
               out, interrupts) -> int:
    from jaxdl import data, ensemble, losses, tune
    start = time.perf_counter()
    splits = recipes.load_data(config)
    steps_per_epoch = data.num_batches(len(splits.train), config.batch_size)
    model, make_opt, regularizer = _recipe_builders(config, len(splits.train.info.classes),
                                                    steps_per_epoch)
    if init_scale is not None:
        model = functools.partial(_scaled_model, model, float(init_scale))
    print(_describe(config, splits, swept=tuple(space)))
    print("sweep: " + ", ".join(f"{n} {d.kind} [{d.low:g}, {d.high:g}]"
                                for n, d in space.items()) + f"; {trials} {args.search} trials")
    options = dict(key=recipes.keys(config)[1], epochs=config.epochs,
                   batch_size=config.batch_size, seeds=args.seeds, regularizer=regularizer,
                   early_stopping=config.early_stopping, ema_decay=config.ema_decay,
                   **run_options)
    try:
        if args.search == "random":
            found = tune.random_search(model, make_opt, losses.softmax_cross_entropy, splits,
                                       space=space, trials=trials, **options)
        else:
            points = max(2, round(trials ** (1 / len(space))))
            found = tune.grid_search(model, make_opt, losses.softmax_cross_entropy, splits,
                                     space=space, points=points, **options)
    except KeyboardInterrupt:
        return _before_first_epoch("sweep", interrupts)
    seconds = time.perf_counter() - start
    shown = ["trial", *space, "seed", "best_epoch", "stopped", "best_dev_accuracy",
             "final_dev_accuracy", "test_accuracy"]
    best_rows = found.top(top)
    table = ensemble.markdown_table(best_rows, [c for c in shown if c in best_rows[0]])
    diverged = sum(row["stopped"] in ("nan", "exploding") for row in found.table)
    print(f"trained {len(found.table)} members in {seconds:.1f} s; {diverged} diverged\n\n"
          f"top {len(best_rows)} of {len(found.table)} trials by {found.monitor}:\n{table}")
    if out is not None:
        payload = {"config": config.to_json(), "seconds": seconds, **tune.to_json(found)}
        logs = {n: d.kind != "uniform" for n, d in space.items()}
        _write_member_outputs(out, "sweep", payload,
                              f"# {config.dataset}: sweep\n\n{table}",
                              lambda plots, path: plots.sweep_scatter(
                                  found.table, list(space), path, metric=found.monitor,
                                  log=logs, title=f"{config.dataset}: {trials} trials"))
    interrupted = [r for r in found.results if getattr(r, "stopped", "completed") != "completed"]
    return _member_exit("sweep", interrupted[0] if interrupted else None, found.table,
                        "trial", interrupts)


def _scaled_model(model, init_scale: float, hp: dict):
    """`model` with a fixed --init-scale (a number rather than a range)."""
    return model({**hp, "init_scale": init_scale})


def _raw_inputs(path: str, *, labels: bool):
    """(x, y or None) of --data FILE: a .npy array of inputs, or a .npz with x (and y)."""
    import numpy as np
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--data {file} {'is not a file' if file.exists() else 'does not exist'}"
                         "; give a .npy array of inputs or a .npz with x and y")
    try:
        loaded = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"--data {file}: not a numpy .npy/.npz file ({error})") from None
    if isinstance(loaded, np.ndarray):
        x, y = loaded, None
    else:
        if "x" not in loaded.files:
            raise ValueError(f"--data {file} holds {', '.join(loaded.files)}; name the inputs "
                             "x (and the labels y)")
        x, y = loaded["x"], loaded["y"] if "y" in loaded.files else None
    if labels and y is None:
        raise ValueError(f"--data {file} has no labels y; evaluate needs a .npz with x and y")
    return x, y


def _run_splits(run) -> dict:
    """The run's own raw train/dev/test parts (its config's split, no preprocessing)."""
    raw = recipes.load_data(dataclasses.replace(run.config, preprocess="none"))
    return {name: part for name, part in zip(("train", "dev", "test"), raw)
            if part is not None}


def cmd_predict(args) -> int:
    """Predicted classes of a saved run on --data (default: the run's test split)."""
    import numpy as np
    run = runs.load_run(args.run_dir)
    x = _raw_inputs(args.data, labels=False)[0] if args.data else _run_splits(run)["test"].x
    predicted = run.predict(x)
    if args.out:
        with atomic_write(Path(args.out)) as file:
            np.save(file, predicted)
        print(f"wrote {len(predicted)} predicted classes to {args.out}")
    else:
        print("\n".join(run.classes[int(c)] for c in predicted))
    return EXIT_OK


def cmd_evaluate(args) -> int:
    """Loss and accuracy of a saved run on --data, or on each part of its own split."""
    run = runs.load_run(args.run_dir)
    if args.data:
        parts = {Path(args.data).name: _raw_inputs(args.data, labels=True)}
    else:
        parts = {name: (ds.x, ds.y) for name, ds in _run_splits(run).items()}
    for name, (x, y) in parts.items():
        found = run.evaluate(x, y)
        print(f"{name}: loss {found['loss']:.4f}  accuracy {found['accuracy']:.4f}  "
              f"({len(x)} examples)")
    return EXIT_OK


def cmd_data_download(args) -> int:
    from jaxdl import data
    paths = data.download(args.name, args.dir, progress=not args.quiet)
    for path in paths:
        print(path)
    return 0


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and a pointer to --help (not the whole
    usage), with the closest option for a mistyped one (--lrr: did you mean --lr?)."""

    def _options(self) -> list[str]:
        found = []
        for action in self._actions:
            found += [o for o in action.option_strings if o.startswith("--")]
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found += sub._options()
        return found

    def error(self, message):
        import difflib
        hint = ""
        if message.startswith("unrecognized arguments:"):
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], self._options(), n=1)
                if close:
                    hint = f"; did you mean {close[0]}?"
                    break
        self.exit(2, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(  # the docstring's first paragraph, whole
        prog="jaxdl", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--version", action="version", version=f"jaxdl {jaxdl.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train_parser = commands.add_parser(
        "train", help="train an MLP (default: on the embedded digits, in seconds)",
        description="Train an MLP; prints train/dev/test accuracy.")
    _add_train_options(train_parser)
    train_parser.add_argument("--out", metavar="DIR", help="write config.json, history.json, "
                              "results.json, checkpoint.npz and training.png here (a new "
                              "directory, or one without a run)")
    train_parser.add_argument("--overwrite", action="store_true", help="with --out: replace "
                              "the run already in DIR instead of refusing")
    train_parser.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR "
                              "(its config.json and checkpoint.npz), writing into DIR")
    train_parser.add_argument("--checkpoint-every", type=_checkpoint_every, default="5s",
                              metavar="N|Ns", help="with --out: save checkpoint.npz every N "
                              "epochs, or after the first epoch Ns seconds after the last save "
                              "(default 5s); always after the last epoch and on interruption")
    train_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    train_parser.add_argument("--diagnostics", action="store_true",
                              help="record per-layer gradient norms, update/weight ratios, "
                              "activation statistics and histograms every epoch; print advice "
                              "and write their plots into --out")
    train_parser.set_defaults(run=cmd_train, interruptible=True)

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
    ensemble_parser.add_argument("--voters", type=_voters, default="all", metavar="WHO",
                                 help="the members that vote: all (default), best, or topK "
                                      "(e.g. top3: the K best on the dev set)")
    _add_member_options(ensemble_parser)
    ensemble_parser.set_defaults(run=cmd_ensemble, resume=None, interruptible=True)

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
    sweep_parser.set_defaults(run=cmd_sweep, resume=None, interruptible=True)

    lr_find = commands.add_parser(
        "lr-find", help="learning-rate range test: the loss while the rate grows x10 steps",
        description="Train the configured model for --steps mini-batches while the learning "
                    "rate grows geometrically from --lr-min to --lr-max; prints the rate at "
                    "the lowest smoothed loss and a tenth of it as the suggestion (--lr, "
                    "--schedule and --epochs are not used).")
    _add_train_options(lr_find)
    lr_find.add_argument("--lr-min", type=float, default=1e-6, help="default 1e-6")
    lr_find.add_argument("--lr-max", type=float, default=1.0, help="default 1")
    lr_find.add_argument("--steps", type=int, default=300, help="mini-batches (default 300)")
    lr_find.add_argument("--out", metavar="DIR", help="write lr_range.json and lr_range.png "
                                                      "here")
    lr_find.add_argument("--overwrite", action="store_true",
                         help="replace the outputs already in --out")
    lr_find.set_defaults(run=cmd_lr_find, resume=None)

    for name, run, what in (("predict", cmd_predict, "the predicted class of each input"),
                            ("evaluate", cmd_evaluate, "loss and accuracy")):
        saved = commands.add_parser(
            name, help=f"{what} of a saved run (`train --out DIR`)",
            description=f"Reload the run in RUN_DIR (config.json, checkpoint.npz, "
                        f"preprocessing.npz) and print {what}; the inputs are raw, as "
                        "the dataset gives them, and go through the run's preprocessing.")
        saved.add_argument("run_dir", metavar="RUN_DIR")
        saved.add_argument("--data", metavar="FILE", help=(
            "a .npy array of inputs or a .npz with x (default: the run's test split)"
            if name == "predict" else "a .npz with inputs x and labels y (default: the "
            "run's own train, dev and test parts)"))
        if name == "predict":
            saved.add_argument("--out", metavar="FILE", help="write the class indices as .npy "
                               "instead of printing the class names")
        saved.set_defaults(run=run)

    data_parser = commands.add_parser("data", help="dataset files")
    data_commands = data_parser.add_subparsers(dest="data_command", required=True,
                                               metavar="ACTION")
    download = data_commands.add_parser("download", help="download and verify a dataset's "
                                        "original files")
    download.add_argument("name", help="mnist, fashion_mnist or cifar10")
    download.add_argument("--data-dir", "--dir", dest="dir", metavar="DIR",
                          help="target directory, as --data-dir of train (default: "
                               "$JAXDL_DATA_DIR or the cache directory; --dir: the old name)")
    download.add_argument("--quiet", action="store_true")
    download.set_defaults(run=cmd_data_download)

    from jaxdl.experiments import command as experiments_command
    experiments_command.add_parser(commands)
    return parser


def enable_compilation_cache() -> None:
    """Keep compiled programs in $XDG_CACHE_HOME/jaxdl/xla (JAX's persistent cache), so a
    repeated run skips XLA compilation; JAXDL_COMPILATION_CACHE=0 turns it off."""
    if os.environ.get("JAXDL_COMPILATION_CACHE", "1") == "0":
        return
    from jaxdl import compile_cache
    compile_cache.enable_compilation_cache()


def main(argv=None) -> int:
    """Run the `jaxdl` command line `argv` (default sys.argv[1:]); returns the exit status.
    train, ensemble and sweep turn SIGINT and SIGTERM into KeyboardInterrupt while they
    run (see `_Interrupts`)."""
    from jaxdl.data.files import DataFileError
    args = build_parser().parse_args(argv)
    enable_compilation_cache()
    interrupts = _Interrupts(enabled=getattr(args, "interruptible", False))
    args.interrupts = interrupts
    try:
        with interrupts:
            return args.run(args)
    except KeyboardInterrupt:  # outside the commands' own handling (e.g. a second Ctrl-C)
        if os.environ.get("JAXDL_DEBUG"):
            raise
        print(f"jaxdl {args.command}: interrupted{interrupts.by()}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError, DataFileError) as error:
        if os.environ.get("JAXDL_DEBUG"):
            raise
        print(f"jaxdl {args.command}: error: {error or type(error).__name__}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
