"""What a family of assets shares (group, owners, tags, partitions, policies), typed once."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from taxi_platform.defs.metadata import Metadata


@dataclass(frozen=True)
class AssetOptions:
    """The `dg.asset` arguments a family of assets shares; `asset` adds each one's own."""

    group_name: str
    owners: tuple[str, ...]
    tags: Mapping[str, str]
    code_version: str | None = None
    partitions_def: dg.PartitionsDefinition | None = None
    backfill_policy: dg.BackfillPolicy | None = None
    automation_condition: dg.AutomationCondition | None = None
    retry_policy: dg.RetryPolicy | None = None

    def asset(
        self,
        key: dg.AssetKey,
        kinds: set[str],
        *,
        deps: Sequence[dg.AssetKey | dg.AssetDep] = (),
        description: str | None = None,
        check_specs: Sequence[dg.AssetCheckSpec] = (),
        metadata: Metadata | None = None,
    ) -> Callable[[Callable[..., object]], dg.AssetsDefinition]:
        """`dg.asset` with these options and the asset's own key, kinds, deps, description,
        checks and metadata."""
        return dg.asset(
            key=key,
            kinds=kinds,
            deps=list(deps),
            description=description,
            check_specs=list(check_specs),
            metadata=metadata,
            group_name=self.group_name,
            owners=list(self.owners),
            tags=dict(self.tags),
            code_version=self.code_version,
            partitions_def=self.partitions_def,
            backfill_policy=self.backfill_policy,
            automation_condition=self.automation_condition,
            retry_policy=self.retry_policy,
        )
