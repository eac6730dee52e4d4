"""The benchmark still runs end to end at a tiny size (timings are not asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.report import STEP_TITLES

pytestmark = pytest.mark.integration
ROWS = 2_000
LAYERS = ("raw", "lake", "gcs", "bigquery", "postgres")


def test_tiny_benchmark_writes_every_step(tmp_path: Path) -> None:
    out = tmp_path / "results"

    assert main(["course", "--sizes", str(ROWS), "--skip-backfill", "--work",
                 str(tmp_path / "work"), "--out", str(out)]) == 0  # fmt: skip

    report = (out / "results.md").read_text()
    assert "## Targets" in report
    for title in STEP_TITLES.values():
        assert f"| {title} | {ROWS:,} |" in report
    for layer in LAYERS:
        assert f"| {layer} |" in report or f"| **{layer}** (slowest) |" in report
    assert "## Backfill throughput" in report
    assert (out / "results.png").read_bytes().startswith(b"\x89PNG")
    results = json.loads((out / "results.json").read_text())
    [size] = results["sizes"]
    for step in size["steps"].values():
        for impl in ("baseline", "platform"):
            assert step[impl]["rows"] == ROWS
            assert step[impl]["peak_rss_mb"] > 0
    assert [layer["layer"] for layer in results["end_to_end"]["layers"]] == list(LAYERS)


def test_tiny_memory_benchmark_writes_every_step(tmp_path: Path) -> None:
    assert main(["memory", "--memory-rows", "2000", "20000", "--out", str(tmp_path)]) == 0

    report = (tmp_path / "memory.md").read_text()
    rows = json.loads((tmp_path / "memory.json").read_text())
    assert {r["step"] for r in rows} == {
        "source -> raw",
        "parquet -> lake",
        "plain pyarrow read+write",
        "lake -> GCS",
        "lake -> PostgreSQL",
        "bare COPY of the same rows",
    }
    assert {r["rows"] for r in rows} == {2000, 20000}
    assert "the rows/s of a plain pyarrow copy" in report
    assert "a bare COPY of the same rows" in report
