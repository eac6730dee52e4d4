"""Imports point downward: the library runs without Dagster, and the shipped package never
needs the dev stack."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "taxi_platform"
# Private names of Dagster's packages the package still uses, each because no public API does
# the job, with the test that fails if the library's behaviour relied on changes.
PRIVATE_DAGSTER_NAMES = {
    ("defs/celery_executor.py", "dagster_celery.executor._submit_task"): (
        "the only way to submit a step: taxi_platform_tests/defs/test_celery_executor.py"
    ),
}


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


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def _private_dagster_imports(path: Path) -> set[str]:
    """Dotted names imported from any `dagster*` package with a private part."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {
        name
        for name in names
        if name.startswith("dagster") and any(_is_private(part) for part in name.split("."))
    }


def test_the_package_imports_only_public_names_of_dagsters_packages() -> None:
    found = {
        (str(path.relative_to(PACKAGE)), name)
        for path in PACKAGE.rglob("*.py")
        for name in _private_dagster_imports(path)
    }

    assert found == set(PRIVATE_DAGSTER_NAMES)  # an exception no longer needed goes too


def _private_attributes(tree: ast.AST) -> dict[str, int]:
    """Private attribute names read or set in `tree` (`x._name`), each with a line."""
    return {
        node.attr: node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and _is_private(node.attr)
    }


def _defined_private_names(tree: ast.AST) -> set[str]:
    """Private names `tree` gives a value: functions, classes, variables, `self._name = …`."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
            found.add(node.id if isinstance(node, ast.Name) else node.attr)
    return {name for name in found if _is_private(name)}


def test_the_package_touches_no_private_attribute_it_does_not_define() -> None:
    trees = {path: ast.parse(path.read_text()) for path in PACKAGE.rglob("*.py")}
    defined = set().union(*map(_defined_private_names, trees.values()))

    foreign = {
        (str(path.relative_to(PACKAGE)), line, name)
        for path, tree in trees.items()
        for name, line in _private_attributes(tree).items()
        if name not in defined
    }

    assert not foreign  # e.g. `engine._pool` of a library object


def _package_classes() -> list[type]:
    """Every class defined in a module of the package."""
    classes = []
    for path in PACKAGE.rglob("*.py"):
        module = importlib.import_module(
            ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        )
        classes += [
            c
            for c in vars(module).values()
            if inspect.isclass(c) and c.__module__ == module.__name__
        ]
    return classes


def test_no_class_of_the_package_sets_or_reads_a_private_attribute_of_its_dagster_bases() -> None:
    clashes = set()
    for cls in _package_classes():
        ours = [c for c in cls.__mro__ if c.__module__.startswith("taxi_platform.")]
        theirs = [c for c in cls.__mro__ if c.__module__.startswith("dagster")]
        library = {m for c in theirs for m in re.findall(r"\b_\w+", inspect.getsource(c))}
        for own in ours:
            names = _private_attributes(ast.parse(inspect.getsource(own).strip()))
            clashes |= {(cls.__qualname__, own.__qualname__, n) for n in names if n in library}

    assert not clashes  # e.g. a storage that overwrites dagster-postgres's `self._engine`
