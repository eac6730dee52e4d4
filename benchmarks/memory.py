"""Peak memory per step does not grow with the month: an official-layout fhvhv month of N rows
through every layer the client does work in (download from the local mirror, parquet -> lake,
lake -> GCS, lake -> PostgreSQL), each step in a fresh process, against the same steps on a
month a tenth the size; with the practical speed bounds measured in the same run: a plain
pyarrow read-and-write of the same file, and a bare COPY of the same rows from a CSV file.
(BigQuery loads the month server-side from GCS: the client only waits, so there is no
client-side step to measure; the emulator's own load speed says nothing about BigQuery's.)

Target `memory`. The big month is the small month's row groups written again until it has N
rows (`benchmarks.steps.make_month`). Writes memory.json and memory.md into `--out`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import Options
from benchmarks.measure import Measurement, run_step
from benchmarks.steps import FHVHV_MONTH
from devstack.services import running_services

SCHEMA = "bench_memory"


def _row(name: str, rows: int, m: Measurement) -> dict[str, Any]:
    return {
        "step": name,
        "rows": rows,
        "seconds": round(m.seconds, 2),
        "rows_per_second": round(rows / m.seconds),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
    }


def measure(sizes: Sequence[int], work: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Each step on a month of each size, each in its own process; one row per (step, size)."""
    rows = []
    mirror = Path(env["TAXI_LAKE_DIR"]).parent / "mirror"
    for size in sizes:
        made = run_step("benchmarks.steps", "make_month", {"rows": size, "out_dir": str(work)})
        src, dst = made.result["path"], str(work / f"{size}" / "lake.parquet")
        served = mirror / f"{size}" / Path(src).name
        served.parent.mkdir(parents=True, exist_ok=True)
        served.unlink(missing_ok=True)
        served.hardlink_to(src)
        url = f"{env['TLC_BASE_URL'].rstrip('/')}/{size}/{served.name}"
        csv = str(work / f"{size}" / "lake.csv")
        steps = {
            "source -> raw": ("download", {"url": url, "dst": str(served.with_suffix(".raw"))}),
            "parquet -> lake": ("lake", {"src": src, "dst": dst}),
            "plain pyarrow read+write": ("plain_pyarrow", {"src": src, "dst": dst + ".plain"}),
            "lake -> GCS": ("gcs", {"src": dst}),
            "lake -> PostgreSQL": (
                "postgres",
                {"src": dst, "schema": SCHEMA, "dataset": "fhvhv", "month": FHVHV_MONTH},
            ),
            "bare COPY of the same rows": ("bare_copy", {"csv": csv, "schema": SCHEMA}),
        }
        for name, (function, kwargs) in steps.items():
            if function == "bare_copy":  # its CSV file, made outside the measured step
                run_step("benchmarks.steps", "make_csv", {"src": dst, "dst": csv}, env=env)
            m = run_step("benchmarks.steps", function, kwargs, env=env)
            rows.append(_row(name, size, m))
    return rows


def report(rows: list[dict[str, Any]], sizes: Sequence[int]) -> str:
    """memory.md: every step's figures and the two speed ratios against their bounds."""
    small, big = min(sizes), max(sizes)
    by = {(r["step"], r["rows"]): r for r in rows}
    lines = [
        "# Memory per step: an fhvhv month of "
        f"{big:,} rows against one of {small:,} (`python -m benchmarks memory`)",
        "",
        "| step | rows | seconds | rows/s | peak RSS MiB | peak vs small month |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["peak_rss_mb"] / by[(r["step"], small)]["peak_rss_mb"]
        lines.append(
            f"| {r['step']} | {r['rows']:,} | {r['seconds']} | {r['rows_per_second']:,}"
            f" | {r['peak_rss_mb']} | {ratio:.2f}x |"
        )
    lake, plain = by[("parquet -> lake", big)], by[("plain pyarrow read+write", big)]
    speed = lake["rows_per_second"] / plain["rows_per_second"]
    pg, copy = by[("lake -> PostgreSQL", big)], by[("bare COPY of the same rows", big)]
    load = pg["rows_per_second"] / copy["rows_per_second"]
    lines += [
        "",
        f"parquet -> lake runs at {speed:.2f}x the rows/s of a plain pyarrow copy (target ≥ 0.7x);"
        f" lake -> PostgreSQL at {load:.2f}x a bare COPY of the same rows (target ≥ 0.8x).",
    ]
    return "\n".join(lines) + "\n"


def run(options: Options) -> None:
    """Measure every size on fresh services; write memory.json and memory.md."""
    sizes = options.memory_rows
    with tempfile.TemporaryDirectory() as tmp, running_services(Path(tmp) / "stack") as env:
        rows = measure(sizes, Path(tmp), env)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "memory.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = report(rows, sizes)
    (options.out / "memory.md").write_text(text)
    print(text)
