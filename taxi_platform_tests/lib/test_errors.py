"""Errors are shown in one line without the exception's class path."""

from taxi_platform.lib.errors import first_line


def test_the_first_line_without_the_class_path() -> None:
    text = "dagster._core.errors.DagsterExecutionStepExecutionError: yellow 2019-03: gone\nTrace"

    assert first_line(text) == "yellow 2019-03: gone"
    assert first_line("  ") == ""
    assert len(first_line("x" * 500)) == 300
