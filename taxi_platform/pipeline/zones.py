"""The taxi zone lookup: one unpartitioned CSV shared by every dataset."""

import dagster as dg
import pyarrow.csv as pacsv

from taxi_platform import paths
from taxi_platform.datasets import ZONE_COLUMNS
from taxi_platform.pipeline.download import DownloadError, NotPublishedError
from taxi_platform.resources.lake import LakeResource
from taxi_platform.resources.tlc import TlcSource

ZONE_LOOKUP_KEY = dg.AssetKey(["raw", "misc", "taxi_zone_lookup"])


@dg.asset(key=ZONE_LOOKUP_KEY, group_name="zones", kinds={"csv"}, owners=["team:data-eng"])
def taxi_zone_lookup(context: dg.AssetExecutionContext, tlc: TlcSource, lake: LakeResource):
    """TLC taxi zones (LocationID, Borough, Zone, service_zone), landed in the lake."""
    url = paths.zone_lookup_url(tlc.base_url)
    dst = paths.zone_lookup_path(lake.path)
    try:
        tlc.download(url, dst, context.log, gzip_expected=False)
    except (NotPublishedError, DownloadError) as err:
        raise dg.Failure(description=str(err), allow_retries=False) from err
    table = pacsv.read_csv(dst)
    expected = [c.source for c in ZONE_COLUMNS]
    if table.column_names != expected:
        raise dg.Failure(
            description=f"{dst.name}: header {table.column_names} is not {expected}",
            allow_retries=False,
        )
    return dg.MaterializeResult(
        metadata={"dagster/row_count": table.num_rows, "path": dg.MetadataValue.path(str(dst))}
    )
