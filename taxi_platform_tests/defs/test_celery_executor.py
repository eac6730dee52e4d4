"""What taxi_platform/defs/celery_executor.py takes from dagster-celery's non-public code still
holds: the stock executor is the loop run with the stock submit function, both called as the
override calls them, and a step's result is read through ready/get/revoke only."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from dagster_celery import core_execution_loop
from dagster_celery.executor import CeleryExecutor, _submit_task

from taxi_platform.defs.celery_executor import LostWorkerAwareCeleryExecutor


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_stock_executor_is_the_loop_with_the_stock_submit_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        core_execution_loop,
        "core_celery_execution_loop",
        lambda context, plan, step_execution_fn: calls.append((context, plan, step_execution_fn)),
    )
    context, plan = object(), object()

    CeleryExecutor.for_cli().execute(context, plan)

    assert calls == [(context, plan, _submit_task)]


def test_the_loop_and_the_submit_function_take_what_the_override_passes() -> None:
    loop = core_execution_loop.core_celery_execution_loop

    assert _parameters(loop) == ["job_context", "execution_plan", "step_execution_fn"]
    assert _parameters(_submit_task) == [
        *("app", "plan_context", "step", "queue", "priority", "known_state"),
    ]
    assert _parameters(LostWorkerAwareCeleryExecutor._submit)[1:] == _parameters(_submit_task)


def test_the_loop_reads_a_result_through_ready_get_and_revoke_only() -> None:
    source = inspect.getsource(core_execution_loop.core_celery_execution_loop)

    assert set(re.findall(r"\bresult\.(\w+)", source)) == {"ready", "get", "revoke"}
    # A revoked step's TaskRevokedError, which _StepResult passes on, is reported by the loop.
    assert "except TaskRevokedError:" in source
