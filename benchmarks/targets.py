"""Target `targets`: the scale targets (memory, PostgreSQL and lake speed, backfill
throughput, the full-history dry run), each with the ratio measured, from the results targets
`memory`, `backfill` and `full-history` wrote into `--out`; writes targets.md there.
"""

from __future__ import annotations

import json

from benchmarks import Options
from benchmarks.backfill import CONCURRENT_RUNS, MEAN_PICKUP_SECONDS

GIB_MB = 1024.0


def _row(target: str, measured: str, met: bool) -> str:
    return f"| {target} | {measured} | {'met' if met else 'not met'} |"


ISSUE_BASELINE = 13.0  # dataset-months/min of a 24 dataset-month backfill, as issue 14 states


def _memory_rows(memory: list[dict]) -> list[str]:
    """Peak RSS, its growth with the month, and the two speeds against their bounds."""
    small, big = min(r["rows"] for r in memory), max(r["rows"] for r in memory)
    by = {(r["step"], r["rows"]): r for r in memory}
    platform = ("source -> raw", "parquet -> lake", "lake -> GCS", "lake -> PostgreSQL")
    peak = max(by[(s, big)]["peak_rss_mb"] for s in platform)
    growth = max(by[(s, big)]["peak_rss_mb"] / by[(s, small)]["peak_rss_mb"] for s in platform)

    def speed(step: str, bound: str) -> float:
        return by[(step, big)]["rows_per_second"] / by[(bound, big)]["rows_per_second"]

    lake = speed("parquet -> lake", "plain pyarrow read+write")
    copy = speed("lake -> PostgreSQL", "bare COPY of the same rows")
    return [
        _row(
            f"every step's peak RSS ≤ 1 GiB ({big:,}-row fhvhv month)",
            f"{peak:.0f} MiB at most",
            peak <= GIB_MB,
        ),
        _row(
            f"every step's peak ≤ 1.2× its peak on {small:,} rows",
            f"{growth:.2f}× at most",
            growth <= 1.2,
        ),
        _row("parquet → lake ≥ 0.7× a plain pyarrow read+write", f"{lake:.2f}×", lake >= 0.7),
        _row("lake → PostgreSQL ≥ 0.8× a bare COPY of the same rows", f"{copy:.2f}×", copy >= 0.8),
    ]


def _backfill_rows(after: dict, dry_run: dict) -> list[str]:
    """The backfill's rate against the code before (same run), its not-step share, and the
    full-history dry run."""
    before = after["baseline"]
    rate = after["dataset_months_per_minute"]
    speedup = rate / before["dataset_months_per_minute"]
    beside = f"{rate / ISSUE_BASELINE:.2f}× the issue's {ISSUE_BASELINE:g}/min"
    overhead = after["not_step_share"]
    # The share if the runs cost nothing but their steps, split evenly over the run slots: the
    # pickup alone.
    slot_step = after["step_seconds"] / CONCURRENT_RUNS
    pickup_only = 1 - slot_step / (MEAN_PICKUP_SECONDS + slot_step)
    return [
        _row(
            f"backfill of {after['dataset_months']} dataset-months ≥ 4× the dataset-months/min"
            f" of the same backfill on the code before ({before['commit']}, same run)",
            f"{speedup:.2f}× ({rate}/min in {after['runs']} runs against"
            f" {before['dataset_months_per_minute']}/min in {before['runs']}; {beside})",
            speedup >= 4,
        ),
        _row(
            "not step work ≤ 20 % of the backfill's wall",
            f"{overhead:.0%} of the wall ({MEAN_PICKUP_SECONDS:.0f} s of it the daemon's mean"
            f" pickup; {after['pickup_seconds']:.0f} s measured; {pickup_only:.0%} with no launch"
            f" or queue at all); {after['not_step_share_after_pickup']:.0%} of the wall after"
            " the pickup",
            overhead <= 0.2,
        ),
        _row(
            "full-history dry run: every partition of all four datasets, 0 failures",
            f"{dry_run['dataset_months']} dataset-months, {dry_run['failed_runs']} failed runs,"
            f" {dry_run['wall_seconds'] / 60:.0f} min",
            dry_run["failed_runs"] == 0 and dry_run["status"] == "COMPLETED_SUCCESS",
        ),
    ]


def targets(memory: list[dict], after: dict, dry_run: dict) -> str:
    """The table: memory and speed from `memory`; the backfill's throughput and overhead from
    `after`, against the same backfill on the code before measured in the same run
    (`after["baseline"]`); and the full-history dry run."""
    lines = [
        "# Scale targets (`python -m benchmarks targets`)",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *_memory_rows(memory),
        *_backfill_rows(after, dry_run),
        "",
        "Sources: `memory.json` (`python -m benchmarks memory`), `backfill-after.json`"
        " (`python -m benchmarks backfill`, both backfills in one run)"
        " and `backfill-full-history.json` (`python -m benchmarks full-history`).",
    ]
    return "\n".join(lines) + "\n"


def run(options: Options) -> None:
    """Read the results in `options.out`; write targets.md beside them."""
    names = ("memory.json", "backfill-after.json", "backfill-full-history.json")
    if missing := [name for name in names if not (options.out / name).exists()]:
        raise SystemExit(
            f"targets: {', '.join(missing)} missing in {options.out}:"
            " run `python -m benchmarks memory backfill full-history` first"
        )
    memory, after, dry_run = (json.loads((options.out / name).read_text()) for name in names)
    text = targets(memory, after, dry_run)
    (options.out / "targets.md").write_text(text)
    print(text)
