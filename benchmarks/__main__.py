"""Run benchmark targets on this checkout: `python -m benchmarks [target ...] [options]`.

With no target it runs every one, in the order below (about 35 minutes on 2 cores), and also
writes scale-run.json into `--out`: the commit measured and each target's minutes. The
measuring targets start their own local services; `targets`, `projection` and `report` only
read the results in `--out`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks import REPO_ROOT, Options, backfill, course, memory, projection, report, targets


@dataclass(frozen=True)
class Target:
    """A benchmark the runner can run: what it does and writes."""

    run: Callable[[Options], None]
    about: str


TARGETS = {
    "course": Target(course.run, "course pipeline vs platform steps, one month, 12-month backfill"),
    "memory": Target(memory.run, "peak RSS and speed bounds per step, fhvhv 2M vs 20M rows"),
    "backfill": Target(backfill.run_after, "4 x 24 months on --baseline and now, in one run"),
    "full-history": Target(backfill.run_full_history, "every partition of every dataset"),
    "targets": Target(targets.run, "the scale targets table (targets.md)"),
    "projection": Target(projection.run, "the whole archive projected (projection.md)"),
    "report": Target(report.run, "re-render results.md and results.png from results.json"),
}


def parse(argv: Sequence[str]) -> tuple[list[str], Options]:
    """The targets named (none: every one) and the options, one flag per `Options` field."""
    listed = "\n".join(f"  {name:13} {t.about}" for name, t in TARGETS.items())
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        epilog=f"targets:\n{listed}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", nargs="*", help="one or more of the targets below")
    for f in dataclasses.fields(Options):
        if "help" not in f.metadata:
            continue
        flag, default = "--" + f.name.replace("_", "-"), f.default
        about = {"help": f"{f.metadata['help']} [{default}]", "default": default}
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", **about)
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=type(default[0]), nargs="+", **about)
        else:
            parser.add_argument(flag, type=type(default), **about)
    args = vars(parser.parse_args(argv))
    names = args.pop("target")
    if unknown := set(names) - set(TARGETS):
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}: one of {', '.join(TARGETS)}")
    chosen = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    command = " ".join(["python -m benchmarks", *argv])
    return names, Options(**chosen, command=command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the targets named in `argv` one after the other; 0 when all of them ran."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names, options = parse(argv)
    minutes = {}
    for name in names or TARGETS:
        started = time.monotonic()
        TARGETS[name].run(options)
        minutes[name] = round((time.monotonic() - started) / 60, 1)
    if not names:
        describe = ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"]
        commit = subprocess.run(describe, capture_output=True, text=True, check=True).stdout
        record = {"commit": commit.strip(), "minutes": minutes}
        (options.out / "scale-run.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
