"""Imports point downward: the library runs without Dagster, and the shipped package never
needs the dev stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "taxi_platform"


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_library_and_catalog_load_without_dagster() -> None:
    code = (
        "import sys\n"
        "import taxi_platform.catalog, taxi_platform.settings\n"
        "import taxi_platform.lib.source, taxi_platform.lib.lake, taxi_platform.lib.quality\n"
        "import taxi_platform.lib.gcs, taxi_platform.lib.marts\n"
        "import taxi_platform.lib.warehouse.bigquery, taxi_platform.lib.warehouse.postgres\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'dagster']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_library_imports_neither_the_dagster_layer_nor_the_dev_stack() -> None:
    for path in [PACKAGE / "catalog.py", PACKAGE / "settings.py", *(PACKAGE / "lib").rglob("*.py")]:
        for module in _imported_modules(path):
            assert not module.startswith(("taxi_platform.defs", "dagster", "devstack")), (
                f"{path.relative_to(PACKAGE)} imports {module}"
            )


def test_nothing_in_the_package_imports_the_dev_stack() -> None:
    for path in PACKAGE.rglob("*.py"):
        for module in _imported_modules(path):
            assert not module.startswith("devstack"), (
                f"{path.relative_to(PACKAGE)} imports {module}"
            )


def test_the_package_uses_only_dagsters_public_api() -> None:
    for path in PACKAGE.rglob("*.py"):
        for module in _imported_modules(path):
            assert not module.startswith("dagster._"), (
                f"{path.relative_to(PACKAGE)} imports {module}"
            )
