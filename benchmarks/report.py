"""Turn one course benchmark run's measurements into results.md, results.png and results.json;
target `report` re-renders results.md and results.png from the results.json in `--out`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import Options

STEP_TITLES = {
    "csv_to_parquet": "raw CSV.gz → typed parquet",
    "postgres": "parquet → PostgreSQL",
}
SHORT_TITLES = {"csv_to_parquet": "CSV.gz → parquet", "postgres": "parquet → PostgreSQL"}
IMPLEMENTATIONS = {
    "csv_to_parquet": (
        "`pd.read_csv` + `to_datetime` + `to_parquet(gzip)`",
        "`lib.lake.csv_to_parquet` (Arrow streaming reader → zstd)",
    ),
    "postgres": (
        "`to_sql(chunksize=100000, if_exists='append')`",
        "`lib.warehouse.postgres.replace_months` (DELETE + COPY)",
    ),
}
MAX_FLAT_RATIO = 1.5


@dataclass(frozen=True)
class RatioTarget:
    """A target of issue 4: a step's ratio platform / course, measured in the same run, at
    least `bound` for rows/s (`speedup`), at most `bound` for peak RSS (`rss_ratio`)."""

    label: str
    step: str
    ratio: str
    bound: float

    def met(self, value: float) -> bool:
        return value >= self.bound if self.ratio == "speedup" else value <= self.bound

    @property
    def short(self) -> str:
        if self.ratio == "speedup":
            return f"≥ {self.bound:g}× rows/s"
        return f"≤ {self.bound:g}× peak RSS"


RATIO_TARGETS = (
    RatioTarget("CSV.gz → parquet: rows/s ≥ 3× the course", "csv_to_parquet", "speedup", 3.0),
    RatioTarget(
        "CSV.gz → parquet: peak RSS ≤ 0.25× the course", "csv_to_parquet", "rss_ratio", 0.25
    ),
    RatioTarget("parquet → PostgreSQL: rows/s ≥ 10× `to_sql`", "postgres", "speedup", 10.0),
)


def _n(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _yes(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**yes**" if ok else "**NO**")


def step_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (step, size): both implementations, their ratios and the target verdict."""
    rows = []
    for size in results["sizes"]:
        for step, impls in size["steps"].items():
            base, plat = impls["baseline"], impls["platform"]
            ratios = {
                "speedup": plat["rows_per_s"] / base["rows_per_s"],
                "rss_ratio": plat["peak_rss_mb"] / base["peak_rss_mb"],
            }
            mine = [t for t in RATIO_TARGETS if t.step == step]
            rows.append(
                {
                    "step": step,
                    "rows": size["rows"],
                    "baseline": base,
                    "platform": plat,
                    **ratios,
                    "target": ", ".join(t.short for t in mine),
                    "met": all(t.met(ratios[t.ratio]) for t in mine),
                }
            )
    return rows


def flat_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Peak RSS of the biggest month over that of the smallest, per step and implementation."""
    sizes = sorted(results["sizes"], key=lambda s: s["rows"])
    if len(sizes) < 2:
        return []
    small, big = sizes[0], sizes[-1]
    rows = []
    for step in STEP_TITLES:
        for impl in ("platform", "baseline"):
            a, b = small["steps"][step][impl], big["steps"][step][impl]
            ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
            rows.append(
                {
                    "step": step,
                    "impl": impl,
                    "small_rows": small["rows"],
                    "big_rows": big["rows"],
                    "small_mb": a["peak_rss_mb"],
                    "big_mb": b["peak_rss_mb"],
                    "big_capped": b.get("measured_rows"),
                    "ratio": ratio,
                    "met": ratio <= MAX_FLAT_RATIO if impl == "platform" else None,
                }
            )
    return rows


def summary_md(results: dict[str, Any]) -> list[str]:
    """One line per target of issue 4: what was measured and whether it is met."""
    steps = step_rows(results)
    lines = ["## Targets", "", "| target | measured | met? |", "|---|---|---|"]
    for t in RATIO_TARGETS:
        mine = [r for r in steps if r["step"] == t.step]
        measured = ", ".join(f"{_n(r[t.ratio], 2)}× ({r['rows']:,} rows)" for r in mine)
        lines.append(f"| {t.label} | {measured} | {_yes(all(t.met(r[t.ratio]) for r in mine))} |")
    for f in flat_rows(results):
        if f["impl"] == "platform":
            lines.append(
                f"| memory flat, {SHORT_TITLES[f['step']]}: peak RSS {f['big_rows']:,} rows "
                f"≤ {MAX_FLAT_RATIO:g}× {f['small_rows']:,} rows | {_n(f['ratio'], 2)}× "
                f"| {_yes(f['met'])} |"
            )
    e2e = results.get("end_to_end")
    if e2e:
        slowest = max(e2e["layers"], key=lambda r: r["step_seconds"])
        lines.append(
            f"| one month through every layer: time per layer | run {_n(e2e['run_seconds'])} s, "
            f"slowest layer {slowest['layer']} ({_n(slowest['step_seconds'])} s) | reported |"
        )
    bf = results.get("backfill")
    if bf:
        share = 1 - bf["sum_step_seconds"] / bf["sum_run_seconds"]
        lines.append(
            f"| backfill 12 months × 2 datasets: months/min, Dagster overhead share "
            f"| {_n(bf['months_per_minute'], 2)} months/min, {_n(100 * share)} % in-run "
            f"overhead | reported |"
        )
    return [*lines, ""]


def _mark(step: dict[str, Any], text: str) -> str:
    """`text`, footnoted when the step was a capped, extrapolated run."""
    return f"{text} ¹" if step.get("extrapolated") else text


def markdown(results: dict[str, Any]) -> str:
    """results.md: the run's conditions, the targets, then every table of the run."""
    meta = results["meta"]
    return "\n".join(
        [
            "# taxi_platform vs. the course pipeline",
            "",
            f"Command: `{meta['command']}`  ",
            f"Run: {meta['started']} on {meta['cpus']} CPUs, {meta['memory_gb']} GB RAM, "
            f"Python {meta['python']}, PostgreSQL {meta.get('postgres', '?')}, "
            f"code at {meta['commit']}; the whole run took {_n(meta['total_seconds'] / 60)} min.  ",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
            "",
            "Every step ran in a fresh Python process on the same generated input; *peak RSS* is "
            "that process's high-water mark (VmHWM), imports included (*RSS after imports* shows "
            "that share). Ratios are platform / course baseline from this same run.",
            "",
            *summary_md(results),
            *_steps_md(results),
            *_sizes_md(results),
            *_flat_md(results),
            *_end_to_end_md(results.get("end_to_end")),
            *_backfill_md(results.get("backfill")),
            *_conditions_md(results),
            "",
            "![benchmark chart](results.png)",
            "",
        ]
    )


def _steps_md(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Steps",
        "",
        "| step | rows | course s | course rows/s | course peak RSS MB | platform s "
        "| platform rows/s | platform peak RSS MB | rows/s ratio | peak RSS ratio | target "
        "| target met? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in step_rows(results):
        b, p = r["baseline"], r["platform"]
        lines.append(
            f"| {STEP_TITLES[r['step']]} | {r['rows']:,} | {_mark(b, _n(b['seconds']))} "
            f"| {_mark(b, _n(b['rows_per_s'], 0))} | {_mark(b, _n(b['peak_rss_mb'], 0))} "
            f"| {_n(p['seconds'])} | {_n(p['rows_per_s'], 0)} | {_n(p['peak_rss_mb'], 0)} "
            f"| {_n(r['speedup'])}× | {_n(r['rss_ratio'], 2)}× | {r['target']} "
            f"| {_yes(r['met'])} |"
        )
    capped = [s for s in results["sizes"] if s["steps"]["postgres"]["baseline"].get("extrapolated")]
    if capped:
        notes = "; ".join(
            f"{s['rows']:,}-row month: `to_sql` loaded the first "
            f"{s['steps']['postgres']['baseline']['measured_rows']:,} rows in "
            f"{_n(s['steps']['postgres']['baseline']['measured_seconds'])} s"
            for s in capped
        )
        lines += [
            "",
            f"¹ Capped course run, extrapolated linearly to the whole month ({notes}); its "
            "rows/s and peak RSS are those of the capped run.",
        ]
    return lines


def _sizes_md(results: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "Implementations — course: "
        + "; ".join(f"{STEP_TITLES[k]}: {v[0]}" for k, v in IMPLEMENTATIONS.items())
        + ". Platform: "
        + "; ".join(f"{STEP_TITLES[k]}: {v[1]}" for k, v in IMPLEMENTATIONS.items())
        + ".",
        "",
        "| rows | input CSV.gz MB | generate s | course parquet MB | platform parquet MB "
        "| RSS after imports MB (course / platform, CSV step) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for s in results["sizes"]:
        csv = s["steps"]["csv_to_parquet"]
        lines.append(
            f"| {s['rows']:,} | {_n(s['input_bytes'] / 2**20)} | {_n(s['generate']['seconds'])} "
            f"| {_n(s['parquet_bytes']['baseline'] / 2**20)} "
            f"| {_n(s['parquet_bytes']['platform'] / 2**20)} "
            f"| {_n(csv['baseline']['import_rss_mb'], 0)} / "
            f"{_n(csv['platform']['import_rss_mb'], 0)} |"
        )
    return lines


def _flat_md(results: dict[str, Any]) -> list[str]:
    lines = ["", "## Memory flat in month size", ""]
    flat = flat_rows(results)
    if flat:
        lines += [
            "| step | implementation | peak RSS MB, smaller month | peak RSS MB, bigger month "
            "| ratio | target | target met? |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for f in flat:
            big = _n(f["big_mb"], 0) + (" ¹" if f["big_capped"] else "")
            target = f"≤ {MAX_FLAT_RATIO:g}×" if f["impl"] == "platform" else "(for contrast)"
            impl = "platform" if f["impl"] == "platform" else "course"
            lines.append(
                f"| {STEP_TITLES[f['step']]} | {impl} | {_n(f['small_mb'], 0)} "
                f"({f['small_rows']:,} rows) | {big} ({f['big_rows']:,} rows) "
                f"| {_n(f['ratio'], 2)}× | {target} | {_yes(f['met'])} |"
            )
    else:
        lines.append("Needs two sizes; this run had one.")
    return lines


def _end_to_end_md(e2e: dict[str, Any] | None) -> list[str]:
    lines = ["", "## One month through every layer", ""]
    if not e2e:
        return [*lines, "Skipped."]
    run = e2e["run_seconds"]
    lines += [
        f"yellow {e2e['month']} ({_n(e2e['layers'][1]['rows'] or 0, 0)} lake rows), "
        "`dg.materialize` of the five yellow assets with the local resources, in-process "
        "executor; step times from the run's STEP_START/STEP_SUCCESS events.",
        "",
        "| layer | step s | of which the asset's own work s | share of run | rows/s |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = next((r["rows"] for r in e2e["layers"] if r["rows"]), None)
    slowest = max(e2e["layers"], key=lambda r: r["step_seconds"])["layer"]
    for r in e2e["layers"]:
        name = f"**{r['layer']}** (slowest)" if r["layer"] == slowest else r["layer"]
        rate = rows / r["step_seconds"] if rows and r["step_seconds"] else None
        lines.append(
            f"| {name} | {_n(r['step_seconds'], 2)} | {_n(r['asset_seconds'], 2)} "
            f"| {_n(100 * r['step_seconds'] / run)} % | {_n(rate, 0)} |"
        )
    steps = sum(r["step_seconds"] for r in e2e["layers"])
    lines += [
        f"| Dagster, outside the steps | {_n(run - steps, 2)} | | "
        f"{_n(100 * (run - steps) / run)} % | |",
        f"| **run** (RUN_START → RUN_SUCCESS) | {_n(run, 2)} | | 100 % | |",
        "",
        f"`dg.materialize` returned after {_n(e2e['materialize_seconds'], 2)} s (includes "
        "building the job and resources); the process peaked at "
        f"{_n(e2e['peak_rss_mb'], 0)} MB RSS.",
    ]
    return lines


def _backfill_md(bf: dict[str, Any] | None) -> list[str]:
    lines = ["", "## Backfill throughput", ""]
    if not bf:
        return [*lines, "Skipped (`--skip-backfill`)."]
    run, step = bf["sum_run_seconds"], bf["sum_step_seconds"]
    overhead = 1 - step / run if run else None
    busy = run + bf["sum_launch_seconds"]
    lines += [
        f"{bf['dataset_months']} dataset-months (12 months × yellow + green, "
        f"{bf['rows_per_month']:,} rows each) through every layer, one partition backfill "
        "launched through `dg dev`'s GraphQL API; QueuedRunCoordinator as in "
        "`deploy/dagster.yaml`.",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| backfill status | {bf['status']} |",
        f"| runs (failed) | {bf['run_count']} ({bf['failed_runs']}) |",
        f"| wall: launch → last run ended | {_n(bf['wall_seconds'])} s |",
        f"| wall: launch → backfill reported done (polled every 3 s) | "
        f"{_n(bf['polled_wall_seconds'])} s |",
        f"| **months/minute** (dataset-months / wall min) | **{_n(bf['months_per_minute'], 2)}** |",
        f"| launch → first run created (daemon pick-up) | "
        f"{_n(bf['first_created'] - (bf['last_end'] - bf['wall_seconds']))} s |",
        f"| sum of run durations (RUN_START → end) | {_n(run)} s |",
        f"| sum of step durations (data work) | {_n(step)} s |",
        f"| **Dagster run overhead share** = 1 − steps / runs | **{_n(100 * overhead)} %** |",
        f"| sum of run process launches (RUN_STARTING → RUN_START) | "
        f"{_n(bf['sum_launch_seconds'])} s |",
        f"| overhead share incl. launches = 1 − steps / (runs + launches) | "
        f"{_n(100 * (1 - step / busy))} % |",
        f"| sum of time queued (created → RUN_STARTING) | {_n(bf['sum_queued_seconds'])} s |",
        f"| wall / sum of run durations | {_n(bf['wall_seconds'] / run, 2)} |",
    ]
    return lines


def _conditions_md(results: dict[str, Any]) -> list[str]:
    loads = [
        impl[k]
        for size in results["sizes"]
        for step in size["steps"].values()
        for impl in step.values()
        for k in ("load_before", "load_after")
    ]
    meta = results["meta"]
    return [
        "",
        "## Conditions",
        "",
        f"1-minute load average: {_n(meta['load_at_start'][0], 2)} at start, "
        f"{_n(min(loads), 2)}–{_n(max(loads), 2)} around the measured steps, "
        f"{_n(meta['load_at_end'][0], 2)} at the end, on {meta['cpus']} CPUs. The machine is "
        "shared: other developers' test runs used the CPU during this run, so absolute times "
        "are noisy; both implementations ran back to back under the same conditions and the "
        "ratios are the result.",
    ]


def _steps_chart(axes: Any, rows: list[dict[str, Any]]) -> None:
    """Rows/s and peak RSS of both implementations, each bar pair labelled with its ratio."""
    labels = [f"{SHORT_TITLES[r['step']]}\n{r['rows']:,} rows" for r in rows]
    x = range(len(labels))
    width = 0.38
    for ax, key, ratio, title, log in (
        (axes[0], "rows_per_s", "speedup", "Throughput (rows/s, log scale)", True),
        (axes[1], "peak_rss_mb", "rss_ratio", "Peak RSS of the process (MB)", False),
    ):
        base = [r["baseline"][key] for r in rows]
        plat = [r["platform"][key] for r in rows]
        ax.bar([i - width / 2 for i in x], base, width, label="course baseline", color="#c0504d")
        bars = ax.bar(
            [i + width / 2 for i in x], plat, width, label="taxi_platform", color="#4f81bd"
        )
        ax.bar_label(bars, [f"{r[ratio]:.2g}×" for r in rows], fontsize=8)
        ax.set_xticks(list(x), labels, fontsize=8)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)


def _end_to_end_chart(ax: Any, e2e: dict[str, Any] | None) -> None:
    if not e2e:
        ax.axis("off")
        return
    names = [r["layer"] for r in e2e["layers"]]
    secs = [r["step_seconds"] for r in e2e["layers"]]
    names.append("Dagster outside steps")
    secs.append(e2e["run_seconds"] - sum(secs))
    ax.barh(names[::-1], secs[::-1], color="#9bbb59")
    ax.set_xlabel("seconds")
    ax.set_title(f"One month through every layer (yellow {e2e['month']})")


def _backfill_chart(ax: Any, bf: dict[str, Any] | None) -> None:
    if not bf:
        ax.text(0.5, 0.5, "backfill skipped", ha="center", va="center")
        ax.axis("off")
        return
    parts = {
        "steps (data work)": bf["sum_step_seconds"],
        "run overhead": bf["sum_run_seconds"] - bf["sum_step_seconds"],
        "run launch": bf["sum_launch_seconds"],
    }
    left = 0.0
    for (name, value), color in zip(parts.items(), ("#4f81bd", "#f79646", "#8064a2"), strict=True):
        ax.barh(["summed over runs"], [value], left=left, label=name, color=color)
        left += value
    ax.barh(["wall"], [bf["wall_seconds"]], color="#7f7f7f", label="backfill wall")
    ax.set_xlabel("seconds")
    ax.set_title(
        f"Backfill {bf['dataset_months']} dataset-months: {bf['months_per_minute']:.2f} months/min"
    )
    ax.legend(fontsize=8)


def chart(results: dict[str, Any], path: Path) -> None:
    """results.png: the steps, the month through every layer, the backfill's time."""
    import matplotlib  # here: only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    _steps_chart(axes[0], step_rows(results))
    _end_to_end_chart(axes[1][0], results.get("end_to_end"))
    _backfill_chart(axes[1][1], results.get("backfill"))
    fig.suptitle("taxi_platform vs. the course pipeline (same machine, same input)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write results.json, results.md and results.png into `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "results.md", out_dir / "results.png"]
    paths[0].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths[1].write_text(markdown(results))
    chart(results, paths[2])
    return paths


def run(options: Options) -> None:
    """Re-render the report from `options.out`/results.json, measuring nothing."""
    results = json.loads((options.out / "results.json").read_text())
    for path in write_report(results, options.out):
        print(path)
