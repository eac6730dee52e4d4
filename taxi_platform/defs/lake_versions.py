"""Versions of a month in the lake, for the trip assets: landing the source file as a kept
version (or restoring one), and publishing an audited lake month as the version it was made
from, with what changed since the version before."""

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from taxi_platform import catalog
from taxi_platform.catalog import FileFormat, Source, TaxiDataset
from taxi_platform.defs.resources import LakeResource, TlcSource
from taxi_platform.lib.lake import CleanReport
from taxi_platform.lib.quality import LakeQuality
from taxi_platform.lib.source import (
    RemoteFile,
    Verifier,
    read_record,
    verify_gzip,
    verify_parquet,
    write_record,
)
from taxi_platform.lib.versions import (
    MonthVersions,
    Version,
    diff,
    file_sha256,
    money_sums,
    release_of,
    release_record,
    version_of,
)

VERIFIERS: dict[FileFormat, Verifier] = {"csv.gz": verify_gzip, "parquet": verify_parquet}


def land_raw(
    ds: TaxiDataset,
    source: Source,
    month: str,
    tlc: TlcSource,
    lake: LakeResource,
    restore_version: str,
    log: logging.Logger,
) -> tuple[dict[str, Any], Version]:
    """Land the month's source file in the lake and keep it as a version (fetched only when
    the source says it changed), or put back the kept `restore_version`; return the raw
    asset's metadata and the version now landed."""
    url = source.url(tlc.root(source), ds, month)
    dst = catalog.raw_path(lake.path, source, ds, month)
    store = MonthVersions(lake.path, ds, month)
    before = store.read().current
    if restore_version:
        release = store.restore_raw(restore_version, dst)
        write_record(dst, release_record(release))
        return {"restored": True, "previous_version": before}, release
    landed = read_record(dst)
    if landed is not None and landed.sha256 and before is None:
        store.keep_raw(dst, release_of(landed, dst), lake.versions_kept)  # pre-versions
    remote = tlc.probe(url, log)
    fetch = tlc.force_download or landed is None or not landed.same_as(remote)
    if fetch:
        remote = tlc.download(url, dst, log, verify=VERIFIERS[source.file_format])
        write_record(dst, remote)
        store.keep_raw(dst, release_of(remote, dst), lake.versions_kept)
    else:
        remote = landed
    release = store.read().get(version_of(remote.sha256))
    return {
        "url": dg.MetadataValue.url(url),
        "etag": remote.etag,
        "last_modified": remote.last_modified,
        "downloaded": fetch,
        "unchanged": landed is not None and landed.sha256 == remote.sha256,
        "previous_version": before if before != release.version else None,
    }, release


@dataclass(frozen=True)
class CleanedMonth:
    """A month written aside for audit (`audit`), to be published at `path` if it passes."""

    report: CleanReport
    quality: LakeQuality
    audit: Path
    path: Path
    metadata: dict[str, Any]


def publish(
    ds: TaxiDataset,
    source: Source,
    lake_root: Path,
    month: str,
    cleaned: CleanedMonth,
    lake_code_version: str,
) -> dict[str, Any]:
    """Publish an audited month over the lake file and keep it as the raw file's version;
    return its version and, if it replaces another version, what changed."""
    raw = catalog.raw_path(lake_root, source, ds, month)
    record = read_record(raw)
    sha256 = record.sha256 if record and record.sha256 else file_sha256(raw)
    version = version_of(sha256)
    store = MonthVersions(lake_root, ds, month)
    if store.read().get(version) is None:  # landed without a source record (placed by hand)
        store.keep_raw(raw, release_of(RemoteFile("", None, None, None, sha256), raw))
    before = store.read().published
    kept_before = store.path(before, cleaned.path.name) if before else None
    change = (
        diff(kept_before, cleaned.audit, ds)
        if before != version and kept_before is not None and kept_before.exists()
        else None
    )
    os.replace(cleaned.audit, cleaned.path)
    store.keep_lake(
        cleaned.path,
        version,
        schema_era=cleaned.report.era,
        schema_fingerprint=cleaned.report.fingerprint,
        lake_sha256=file_sha256(cleaned.path),
        lake_code_version=lake_code_version,
        lake_rows=cleaned.report.rows_written,
        money=money_sums(cleaned.path, ds),
    )
    metadata: dict[str, Any] = {"version": version}
    if change is not None:
        metadata.update(
            previous_version=before,
            rows_added=change.rows_added,
            rows_removed=change.rows_removed,
            columns_added=", ".join(change.columns_added),
            columns_dropped=", ".join(change.columns_dropped),
            money_before=dg.MetadataValue.json(change.money_before),
            money_after=dg.MetadataValue.json(change.money_after),
        )
    return metadata
