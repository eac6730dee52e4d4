"""Target `projection`: the real archive's full load projected from what this machine
measured, the per-step rows/s of the 20M-row month (target `memory`) and the per-run cost of
the full-history dry run (target `full-history`). Writes projection.md into `--out`. A
projection, not a measurement: the formula and every input are printed with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from benchmarks import Options
from taxi_platform.lib.months import month_start

# The TLC's files 2009-01..2024-05 (../shared/tlc_file_metadata_2024-08.tsv): files, rows, bytes.
ARCHIVE_TO_2024_05 = {
    "yellow": (185, 1_753_861_220, 30_606_015_258),
    "green": (125, 83_109_529, 1_304_793_698),
    "fhv": (113, 758_801_924, 5_652_656_762),
    "fhvhv": (64, 1_098_184_332, 27_965_765_312),
}
# Mean rows and bytes per month over 2023-06..2024-05, for the months published since.
MONTHLY_SINCE_2024_05 = {
    "yellow": (3_243_061, 54_449_425),
    "green": (61_040, 1_460_233),
    "fhv": (1_367_138, 15_824_869),
    "fhvhv": (19_782_111, 481_542_767),
}
# Steps whose client work runs on the machine, as `benchmarks.memory` names them.
MACHINE_STEPS = ("parquet -> lake", "lake -> GCS", "lake -> PostgreSQL")


def _months_between(first: str, last: str) -> int:
    """Months from `first` to `last`, both counted."""
    a, b = month_start(first), month_start(last)
    return (b.year - a.year) * 12 + b.month - a.month + 1


def archive(last_month: str) -> tuple[int, int, int]:
    """Files, rows and bytes of the whole archive up to `last_month` (extrapolated after
    2024-05 at the last year's mean per month)."""
    extra = _months_between("2024-05", last_month) - 1
    files = sum(f for f, _, _ in ARCHIVE_TO_2024_05.values()) + extra * len(ARCHIVE_TO_2024_05)
    rows = sum(r for _, r, _ in ARCHIVE_TO_2024_05.values())
    size = sum(b for _, _, b in ARCHIVE_TO_2024_05.values())
    rows += extra * sum(r for r, _ in MONTHLY_SINCE_2024_05.values())
    size += extra * sum(b for _, b in MONTHLY_SINCE_2024_05.values())
    return files, rows, size


def _step_rates(memory: list[dict]) -> dict[str, float]:
    big = max(r["rows"] for r in memory)
    return {r["step"]: r["rows_per_second"] for r in memory if r["rows"] == big}


def _runs(spans: Sequence[str], months_per_run: int) -> int:
    """Runs of a backfill of every dataset's span of months, `months_per_run` to a run."""
    return sum(-(-_months_between(*span.split("..")) // months_per_run) for span in spans)


def project(
    memory: list[dict],
    dry_run: dict,
    workers: Sequence[int],
    bandwidth_mib_s: float,
    pg_streams: int,
    months_per_run: int = 24,
) -> str:
    last_month = max(span.split("..")[1] for span in dry_run["months"].values())
    files, rows, size = archive(last_month)
    runs = _runs(list(dry_run["months"].values()), months_per_run)
    rates = _step_rates(memory)
    step = {name: rows / rates[name] for name in MACHINE_STEPS}
    launch = dry_run["launch_seconds"] / dry_run["runs"]
    download = size / (bandwidth_mib_s * 2**20)
    lines = [
        "# Projection: the whole TLC archive through every layer"
        " (`python -m benchmarks projection`)",
        "",
        f"Archive to {last_month}: {files:,} files, {rows / 1e9:.2f} billion rows,"
        f" {size / 2**30:.0f} GiB of parquet (2009-01..2024-05 from the TLC's file list, later"
        " months at the last year's mean).",
        "",
        "Inputs measured on this 2-core machine: rows/s per step on the 20M-row fhvhv month"
        " (`benchmarks/results/memory.json`), and the cost of launching a run in the"
        f" full-history dry run ({dry_run['runs']} runs: {launch:.1f} s per run,"
        " `benchmarks/results/backfill-full-history.json`).",
        "",
        "| step | rows/s measured | hours for the archive, one run at a time |",
        "|---|---:|---:|",
    ]
    lines += [f"| {n} | {rates[n]:,.0f} | {step[n] / 3600:.1f} |" for n in MACHINE_STEPS]
    lines += [
        f"| download at {bandwidth_mib_s:g} MiB/s | | {download / 3600:.1f} |",
        f"| run launches ({runs} runs of up to {months_per_run} months) | |"
        f" {runs * launch / 3600:.1f} |",
        "",
        "BigQuery loads each month from GCS inside Google (the emulator's speed says nothing"
        " about it) and is left out; its load jobs run beside the machine's work.",
        "",
        "| machines like this one (N) | projected hours |",
        "|---:|---:|",
    ]
    for n in workers:
        # Every machine works through its share of the months, step after step; the COPYs
        # are also bound by the one PostgreSQL server, which takes up to pg_streams at once.
        spread = (sum(step.values()) + runs * launch + download) / n
        copy = step["lake -> PostgreSQL"] / min(n, pg_streams)
        hours = max(spread, copy) / 3600
        lines.append(f"| {n} | {hours:.1f} |")
    lines += [
        "",
        "Formula: hours(N) = max((lake + GCS + PostgreSQL + launches + download) / N,"
        f" PostgreSQL / min(N, {pg_streams})): each machine works through its share of the"
        " months one step after another (two runs at a time on 2 cores are no faster when"
        f" every step is CPU-bound), and the sink's one server takes at most {pg_streams} COPY"
        " streams at the measured rate.",
    ]
    return "\n".join(lines) + "\n"


def run(options: Options) -> None:
    """Read memory.json and backfill-full-history.json in `options.out`; write projection.md."""
    memory = json.loads((options.out / "memory.json").read_text())
    dry_run = json.loads((options.out / "backfill-full-history.json").read_text())
    text = project(
        memory,
        dry_run,
        options.workers,
        options.bandwidth_mib_s,
        options.pg_streams,
        options.months_per_run,
    )
    (options.out / "projection.md").write_text(text)
    print(text)
