"""Declarative automation: downstream layers follow a newly landed month."""

from __future__ import annotations

import dagster as dg

from taxi_platform.settings import Settings


def follow_upstream() -> dg.AutomationCondition:
    """Materialize a month when its upstream month updated (any month, not just the newest),
    never while an upstream month's blocking checks fail."""
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follow_upstream")


def build_automation_sensor(settings: Settings) -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's automation condition (`TAXI_AUTOMATION` switches it)."""
    return dg.AutomationConditionSensorDefinition(
        "taxi_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING
        if settings.automation_on
        else dg.DefaultSensorStatus.STOPPED,
        description="Lets downstream layers follow a newly landed month (TAXI_AUTOMATION).",
    )
