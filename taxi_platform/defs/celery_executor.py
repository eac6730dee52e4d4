"""dagster-celery's executor, where a step whose worker process died fails like any step.

In dagster-celery 0.29 a Celery task that raised, e.g. because its pool process was SIGKILLed
or ran out of memory (`WorkerLostError`), is kept as an executor error: the loop stops
submitting steps and then waits for the steps it will no longer submit, so a run with a step
ready by then never ends (seen here with a sink step killed as its sibling finished). Here such
a task reads as the event its worker could not send: the step's failure, or a retry while the
step's retry policy has one left, as Dagster's step-delegating executors treat a crashed step.
The run goes on: other steps run, downstream ones are skipped, the run ends.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
from celery import Celery
from celery.exceptions import TaskRevokedError
from celery.result import AsyncResult
from dagster_celery import celery_executor as stock_celery_executor
from dagster_celery.core_execution_loop import core_celery_execution_loop

# dagster-celery has no public way to read a step's failed task: its loop above (a plain name,
# but undocumented) takes the function that submits a step, and the stock one is private.
# Both are pinned by taxi_platform_tests/defs/test_celery_executor.py.
from dagster_celery.executor import CeleryExecutor, _submit_task
from dagster_shared.error import SerializableErrorInfo
from dagster_shared.serdes import serialize_value


class _StepResult:
    """A step's Celery result whose failure, if the task raised, is the step's own event."""

    def __init__(
        self, result: AsyncResult, on_error: Callable[[SerializableErrorInfo], dg.DagsterEvent]
    ) -> None:
        self._result = result
        self._on_error = on_error

    def ready(self) -> bool:
        return self._result.ready()

    def revoke(self) -> None:
        self._result.revoke()

    def get(self) -> list[str]:
        """The step's serialized events."""
        try:
            return self._result.get()
        except TaskRevokedError:
            raise  # the loop reports a revoked step itself
        except Exception as error:
            info = SerializableErrorInfo.from_traceback(
                traceback.TracebackException.from_exception(error)
            )
            return [serialize_value(self._on_error(info))]


class LostWorkerAwareCeleryExecutor(CeleryExecutor):
    """CeleryExecutor whose steps fail, or retry, when their worker process dies.

    The plan context, plan, step and known state are Dagster's internal execution types, passed
    through as dagster-celery's loop hands them over (typed `Any`: Dagster does not export them).
    """

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[dg.DagsterEvent]:
        return core_celery_execution_loop(plan_context, execution_plan, self._submit)

    def _submit(
        self,
        app: Celery,
        plan_context: Any,
        step: Any,
        queue: str,
        priority: int,
        known_state: Any,
    ) -> _StepResult:
        result = _submit_task(app, plan_context, step, queue, priority, known_state)
        step_context = plan_context.for_step(step)
        return _StepResult(
            result,
            lambda error: self.log_failure_or_retry_event_after_error(
                step_context, error, known_state
            ),
        )


@dg.executor(
    name="celery",
    config_schema=stock_celery_executor.config_schema,
    requirements=dg.multiple_process_executor_requirements(),
)
def celery_executor(init_context: dg.InitExecutorContext) -> LostWorkerAwareCeleryExecutor:
    """dagster-celery's `celery_executor` (same config) with LostWorkerAwareCeleryExecutor."""
    stock = stock_celery_executor.executor_creation_fn(init_context)
    config = init_context.executor_config
    return LostWorkerAwareCeleryExecutor(
        broker=config.get("broker"),
        backend=config.get("backend"),
        config_source=config.get("config_source"),
        include=config.get("include"),
        retries=stock.retries,
    )
