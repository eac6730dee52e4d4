"""Every scale target measured in one run on this checkout (about 30 minutes on 2 cores): the
memory benchmark, the 4 × 24-month backfill beside the same backfill on the code issue 14
measured, and the full-history dry run; then the targets table and the archive projection
from those results.

    python -m benchmarks.scale

Writes benchmarks/results/ (memory.json, backfill-after.json, backfill-full-history.json,
targets.md, projection.md) and scale-run.json: the commit measured and each step's minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.backfill import ISSUE_COMMIT

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results"
STEPS = {
    "memory": ["benchmarks.memory"],
    "backfill": [
        "benchmarks.backfill",
        "--label",
        "after",
        "--months",
        "24",
        "--baseline",
        ISSUE_COMMIT,
    ],
    "full history": ["benchmarks.backfill", "--label", "full-history", "--full-history"],
    "targets": ["benchmarks.targets"],
    "projection": ["benchmarks.projection"],
}


def main() -> int:
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    minutes = {}
    for name, args in STEPS.items():
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, check=True)
        minutes[name] = round((time.monotonic() - started) / 60, 1)
    run = {"commit": commit, "minutes": minutes}
    (RESULTS / "scale-run.json").write_text(json.dumps(run, indent=2) + "\n")
    print(json.dumps(run, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
