"""The targets table and the archive projection read the benchmarks' results truly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.projection import archive, project
from benchmarks.targets import targets

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _memory(pg_rows_per_second: int, big_peak: float) -> list[dict]:
    steps = {
        "source -> raw": 9_000_000,
        "parquet -> lake": 1_000_000,
        "plain pyarrow read+write": 1_000_000,
        "lake -> GCS": 400_000,
        "lake -> PostgreSQL": pg_rows_per_second,
        "bare COPY of the same rows": 250_000,
    }
    return [
        {"step": step, "rows": rows, "rows_per_second": rate, "peak_rss_mb": peak}
        for rows, peak in ((2_000_000, 400.0), (20_000_000, big_peak))
        for step, rate in steps.items()
    ]


def _backfill(per_minute: float, not_step: float, failed: int = 0) -> dict:
    return {
        "commit": "abc1234",
        "status": "COMPLETED_SUCCESS" if not failed else "COMPLETED_FAILED",
        "dataset_months": 599,
        "months": {"yellow": "2009-01..2026-09", "fhvhv": "2019-02..2026-09"},
        "runs": 599,
        "failed_runs": failed,
        "wall_seconds": 4000.0,
        "launch_seconds": 599 * 7.0,
        "run_seconds": 2000.0,
        "step_seconds": 1800.0,
        "pickup_seconds": 28.0,
        "dataset_months_per_minute": per_minute,
        "not_step_share": not_step,
        "not_step_share_after_pickup": not_step / 2,
    }


def _verdicts(text: str) -> list[str]:
    return [
        line.rsplit("|", 2)[1].strip()
        for line in text.splitlines()
        if "| met" in line or "| not met" in line
    ]


def test_each_target_is_met_or_not_by_its_measured_ratio() -> None:
    before = _backfill(10.0, 0.0)
    good = targets(
        _memory(240_000, 410.0), {**_backfill(41.0, 0.1), "baseline": before}, _backfill(9.0, 0.7)
    )
    bad = targets(
        _memory(150_000, 1100.0),
        {**_backfill(8.6, 0.77), "baseline": before},
        _backfill(8.6, 0.77, failed=1),
    )

    assert _verdicts(good) == ["met"] * 7
    assert _verdicts(bad) == [
        "not met",
        "not met",
        "met",
        "not met",
        "not met",
        "not met",
        "not met",
    ]


def test_the_projection_shrinks_with_workers_until_postgresql_bounds_it() -> None:
    memory = json.loads((RESULTS / "memory.json").read_text())
    text = project(memory, _backfill(8.6, 0.77), [1, 2, 4, 16], 50.0, 4)
    hours = [
        float(line.split("|")[2])
        for line in text.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]

    [postgres] = [
        float(line.split("|")[3]) for line in text.splitlines() if "lake -> PostgreSQL" in line
    ]

    assert hours[0] > hours[1] > hours[2] > hours[3]
    assert hours[3] == pytest.approx(postgres / 4, abs=0.1)  # 16 workers: the sink's 4 streams


def test_the_archive_grows_by_each_month_after_the_file_list() -> None:
    files, rows, size = archive("2024-05")
    later = archive("2024-06")

    assert (files, rows) == (487, 3_693_957_005)
    assert later[0] == files + 4 and later[1] > rows and later[2] > size
