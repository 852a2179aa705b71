"""`jaxdl experiments`: list, run one, several or all of the course's experiments."""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_OUT = Path("results")


def add_parser(commands) -> None:
    """Register the `experiments` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "experiments", help="reproduce the course's claims (list, run by name, --all)",
        description="Run the course's experiments. Each writes NAME.md (the course's figure "
                    "beside jaxdl's), NAME.json and NAME.png into --out, and OUT/README.md "
                    "gathers every experiment recorded there.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="experiments to run")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--all", action="store_true", help="run every experiment")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (seconds each); results go to OUT/quick unless --out")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output directory (default {DEFAULT_OUT}/, or "
                             f"{DEFAULT_OUT}/quick/ with --quick)")
    parser.add_argument("--data-dir", default=None,
                        help="dataset directory (default $JAXDL_DATA_DIR or the cache)")
    parser.add_argument("--seed", type=int, default=0, help="root key of every experiment")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_command, interruptible=False)


def _names(args) -> list[str]:
    from jaxdl.experiments import registry
    known = list(registry.all_experiments())
    if args.all:
        if args.names:
            raise ValueError("give experiment names or --all, not both")
        return known
    if not args.names:
        raise ValueError("name the experiments to run, or give --all or --list")
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise ValueError(f"unknown experiment(s) {', '.join(unknown)}; see jaxdl experiments "
                         f"--list")
    return args.names


def run_command(args) -> int:
    from jaxdl.experiments import registry, report
    if args.list:
        print(report.markdown_table(registry.listing()), end="")
        return 0
    names = _names(args)
    out = args.out or (DEFAULT_OUT / "quick" if args.quick else DEFAULT_OUT)
    import jax
    from tqdm.auto import tqdm
    bar = tqdm(total=len(names), desc="experiments", unit="exp", file=sys.stderr,
               disable=args.quiet or not sys.stderr.isatty())

    def progress(name: str, outcome) -> None:
        if outcome is None:
            bar.set_postfix_str(name)
            return
        bar.update(1)
        if bar.disable and not args.quiet:  # logs of batch jobs: one line per experiment
            print(f"experiments: {name}: {outcome.verdict.status} ({outcome.seconds:.1f} s)",
                  file=sys.stderr, flush=True)

    try:
        outcomes = registry.run_many(names, jax.random.key(args.seed), quick=args.quick,
                                     out=out, data_dir=args.data_dir, callback=progress)
    finally:
        bar.close()
    print(report.markdown_table(registry.summary_rows(outcomes)), end="")
    print(f"wrote {out}/README.md and {len(outcomes)} experiments' NAME.md/.json/.png")
    return 0 if all(o.verdict.status != "not reproduced" for o in outcomes) else 1
