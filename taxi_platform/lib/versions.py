"""Versions of a month in the lake: every release the source published is kept, with its
provenance, in `versions/{ds}/{YYYY-MM}/{version}/` (the raw file and the lake parquet, hard
links to the landed files, so the current version costs no space), and listed in the month's
manifest, `manifest/{ds}/{ds}_{YYYY-MM}.json`, readable without Dagster:

    pandas.json_normalize(json.load(open(path)), "versions")

A version is named by the first 16 hex digits of the sha256 of the source's bytes: the same
bytes are the same version however often they are fetched. The newest `keep` versions are
kept (the current one always); older ones are pruned.

`land_raw`, `restore_version` and `publish` are what the raw and lake assets do to a month:
each reads the month's manifest once and passes it to the store's steps, which write it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow.compute as pc
import pyarrow.parquet as pq

from taxi_platform.catalog import (
    FileFormat,
    Source,
    TaxiDataset,
    audit_path,
    clean_path,
    manifest_path,
    raw_path,
    versions_dir,
)
from taxi_platform.lib.files import atomic_write_text, open_parquet
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
from taxi_platform.schemas import money_columns

DEFAULT_KEEP = 3
VERIFIERS: dict[FileFormat, Verifier] = {"csv.gz": verify_gzip, "parquet": verify_parquet}


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def version_of(sha256: str) -> str:
    """The version name of the source bytes with this sha256."""
    return sha256[:16]


@dataclass
class Version:
    """One release of a month: what the source said, and what the lake made of it."""

    version: str
    url: str
    etag: str | None
    last_modified: str | None
    bytes: int
    sha256: str
    fetched_at: str
    raw_file: str
    schema_era: str | None = None
    schema_fingerprint: str | None = None
    lake_sha256: str | None = None
    lake_code_version: str | None = None
    lake_rows: int | None = None
    money: dict[str, float] = field(default_factory=dict)
    gcs_generation: int | None = None


@dataclass
class Manifest:
    """The versions of a month: `current` is the raw file landed, `published` the version the
    lake file holds (and the sinks load)."""

    dataset: str
    month: str
    current: str | None = None
    published: str | None = None
    versions: list[Version] = field(default_factory=list)

    def get(self, version: str) -> Version | None:
        return next((v for v in self.versions if v.version == version), None)


@dataclass(frozen=True)
class Diff:
    """What changed between two lake files of a month."""

    rows_before: int
    rows_after: int
    rows_added: int
    rows_removed: int
    columns_added: list[str]
    columns_dropped: list[str]
    money_before: dict[str, float]
    money_after: dict[str, float]


@dataclass(frozen=True)
class LakeProvenance:
    """What the lake made of a version: recorded on it when its lake file is published."""

    schema_era: str
    schema_fingerprint: str
    lake_sha256: str
    lake_code_version: str
    lake_rows: int
    money: dict[str, float]


class MonthVersions:
    """The kept versions of one month of one dataset in the lake at `lake_root`. The steps
    that change them take the manifest read before (`read`) and write it."""

    def __init__(self, lake_root: Path, ds: TaxiDataset, month: str) -> None:
        self.ds, self.month = ds, month
        self.root = versions_dir(lake_root, ds, month)
        self.manifest_file = manifest_path(lake_root, ds, month)

    def read(self) -> Manifest:
        if not self.manifest_file.exists():
            return Manifest(self.ds.name, self.month)
        data = json.loads(self.manifest_file.read_text())
        versions = [Version(**v) for v in data.pop("versions")]
        return Manifest(**data, versions=versions)

    def _write(self, manifest: Manifest) -> None:
        atomic_write_text(self.manifest_file, json.dumps(dataclasses.asdict(manifest), indent=1))

    def path(self, version: str, name: str) -> Path:
        return self.root / version / name

    def keep_raw(
        self, manifest: Manifest, raw: Path, version: Version, keep: int = DEFAULT_KEEP
    ) -> None:
        """Keep the landed raw file as `version` (a hard link) and make it current."""
        _link(raw, self.path(version.version, raw.name))
        known = manifest.get(version.version)
        if known is None:
            manifest.versions.append(version)
        else:  # the same bytes fetched again: keep what the lake made of them
            known.etag, known.last_modified, known.fetched_at = (
                version.etag,
                version.last_modified,
                version.fetched_at,
            )
        manifest.current = version.version
        self._prune(manifest, keep)
        self._write(manifest)

    def keep_lake(
        self, manifest: Manifest, clean: Path, name: str, lake: LakeProvenance
    ) -> Version:
        """Keep the published lake file of version `name` (a hard link) and record it."""
        _link(clean, self.path(name, clean.name))
        version = manifest.get(name)
        if version is None:
            raise LookupError(f"{self.ds.name} {self.month}: no raw version {name} kept")
        for key in (f.name for f in dataclasses.fields(lake)):
            setattr(version, key, getattr(lake, key))
        manifest.published = name
        self._write(manifest)
        return version

    def record(self, name: str, **values: object) -> None:
        manifest = self.read()
        version = manifest.get(name)
        if version is not None:
            for key, value in values.items():
                setattr(version, key, value)
            self._write(manifest)

    def restore_raw(self, manifest: Manifest, name: str, raw: Path) -> Version:
        """Put a kept version's raw file back in place (atomically) and make it current."""
        version = manifest.get(name)
        kept = self.path(name, raw.name)
        if version is None or not kept.exists():
            have = ", ".join(v.version for v in manifest.versions) or "none"
            raise LookupError(
                f"{self.ds.name} {self.month}: version {name!r} is not kept (kept: {have})"
            )
        tmp = raw.with_name(f".{raw.name}.restore.tmp")
        tmp.unlink(missing_ok=True)
        os.link(kept, tmp)
        os.replace(tmp, raw)
        manifest.current = name
        self._write(manifest)
        return version

    def _prune(self, manifest: Manifest, keep: int) -> None:
        newest = sorted(manifest.versions, key=lambda v: v.fetched_at, reverse=True)
        kept = {v.version for v in newest[: max(keep, 1)]} | {manifest.current}
        for version in [v for v in manifest.versions if v.version not in kept]:
            shutil.rmtree(self.root / version.version, ignore_errors=True)
            manifest.versions.remove(version)


def landed_version(remote: RemoteFile, landed: Path, fetched_at: str | None = None) -> Version:
    """The version a landed file is, from what the source said about it."""
    if not remote.sha256:
        raise ValueError(f"{landed.name}: no sha256 recorded")
    return Version(
        version=version_of(remote.sha256),
        url=remote.url,
        etag=remote.etag,
        last_modified=remote.last_modified,
        bytes=landed.stat().st_size,
        sha256=remote.sha256,
        fetched_at=fetched_at or datetime.now(UTC).isoformat(timespec="seconds"),
        raw_file=landed.name,
    )


def source_record(version: Version) -> RemoteFile:
    """The source record of a kept version (written beside it when it is restored)."""
    return RemoteFile(
        version.url, version.etag, version.bytes, version.last_modified, version.sha256
    )


def _link(src: Path, dst: Path) -> None:
    """`dst` becomes another name of `src`'s bytes (replacing what `dst` named)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    os.link(src, tmp)
    os.replace(tmp, dst)


def money_sums(path: Path, ds: TaxiDataset) -> dict[str, float]:
    """The sum of each money column of a lake file, to the cent."""
    names = [c for c in money_columns(ds.landed_columns) if c in pq.read_schema(path).names]
    sums = dict.fromkeys(names, 0.0)
    for batch in open_parquet(path).iter_batches(columns=names):
        for name in names:
            sums[name] += pc.sum(batch.column(name)).as_py() or 0.0
    return {name: round(total, 2) for name, total in sums.items()}


def _row_hashes(path: Path, columns: list[str]) -> dict[int, int]:
    """How often each row (of `columns`) occurs, by a 64-bit hash of its values."""
    import pandas as pd

    counts: dict[int, int] = {}
    for batch in open_parquet(path).iter_batches(columns=columns):
        hashes = pd.util.hash_pandas_object(batch.to_pandas(), index=False)
        for value, n in hashes.value_counts().items():
            counts[int(value)] = counts.get(int(value), 0) + int(n)
    return counts


def diff(before: Path, after: Path, ds: TaxiDataset) -> Diff:
    """Rows added and removed (compared on the columns both files have), columns added and
    dropped, and the money sums of both files."""
    old, new = pq.read_schema(before).names, pq.read_schema(after).names
    shared = [c for c in new if c in old]
    old_rows, new_rows = _row_hashes(before, shared), _row_hashes(after, shared)
    added = sum(max(n - old_rows.get(h, 0), 0) for h, n in new_rows.items())
    removed = sum(max(n - new_rows.get(h, 0), 0) for h, n in old_rows.items())
    return Diff(
        rows_before=sum(old_rows.values()),
        rows_after=sum(new_rows.values()),
        rows_added=added,
        rows_removed=removed,
        columns_added=[c for c in new if c not in old],
        columns_dropped=[c for c in old if c not in new],
        money_before=money_sums(before, ds),
        money_after=money_sums(after, ds),
    )


@dataclass(frozen=True)
class TripMonth:
    """One month of one dataset from one source, in the lake at `lake_root`."""

    ds: TaxiDataset
    source: Source
    month: str
    lake_root: Path

    @property
    def raw(self) -> Path:
        return raw_path(self.lake_root, self.source, self.ds, self.month)

    @property
    def clean(self) -> Path:
        return clean_path(self.lake_root, self.ds, self.month)

    @property
    def audit(self) -> Path:
        """Where the lake file is written aside until it passes its audit."""
        return audit_path(self.clean)

    @property
    def store(self) -> MonthVersions:
        return MonthVersions(self.lake_root, self.ds, self.month)


class Fetcher(Protocol):
    """What fetches a source file: a HEAD, and a verified download."""

    def probe(self, url: str, log: logging.Logger | None = None) -> RemoteFile: ...

    def download(
        self, url: str, dst: Path, log: logging.Logger, *, verify: Verifier | None
    ) -> RemoteFile: ...


@dataclass(frozen=True)
class Fetch:
    """Where a month's file is fetched from, and whether even an unchanged one is."""

    fetcher: Fetcher
    url: str
    force: bool = False


@dataclass(frozen=True)
class Landed:
    """A month's raw file after landing: its version, the one current before, and what the
    source said of it (nothing when a kept version was restored)."""

    version: Version
    previous_version: str | None
    restored: bool = False
    url: str | None = None
    remote: RemoteFile | None = None
    downloaded: bool = False
    unchanged: bool = False

    def metadata(self) -> dict[str, object]:
        """What to report about the landing, besides the version's provenance and `url`."""
        if self.restored or self.remote is None:
            return {"restored": True, "previous_version": self.previous_version}
        return {
            "etag": self.remote.etag,
            "last_modified": self.remote.last_modified,
            "downloaded": self.downloaded,
            "unchanged": self.unchanged,
            "previous_version": self.previous_version,
        }


def land_raw(month: TripMonth, fetch: Fetch, keep: int, log: logging.Logger) -> Landed:
    """Land the month's source file and keep it as a version: fetched only when the source
    says it changed (or `fetch.force`); a file landed before versions were kept is kept first."""
    store, dst = month.store, month.raw
    manifest = store.read()
    before = manifest.current
    landed = read_record(dst)
    if landed is not None and landed.sha256 and before is None:
        store.keep_raw(manifest, dst, landed_version(landed, dst), keep)  # pre-versions
    probed = fetch.fetcher.probe(fetch.url, log)
    downloaded = landed is None or fetch.force or not landed.same_as(probed)
    remote = None if downloaded else landed
    if remote is None:
        verify = VERIFIERS[month.source.file_format]
        remote = fetch.fetcher.download(fetch.url, dst, log, verify=verify)
        write_record(dst, remote)
        store.keep_raw(manifest, dst, landed_version(remote, dst), keep)
    version = _kept(manifest, version_of(remote.sha256 or ""))
    return Landed(
        version,
        before if before != version.version else None,
        url=fetch.url,
        remote=remote,
        downloaded=downloaded,
        unchanged=landed is not None and landed.sha256 == remote.sha256,
    )


def restore_version(month: TripMonth, name: str) -> Landed:
    """Put the kept version `name` of the month's raw file back in place, with its record."""
    store = month.store
    manifest = store.read()
    before = manifest.current
    version = store.restore_raw(manifest, name, month.raw)
    write_record(month.raw, source_record(version))
    return Landed(version, before, restored=True)


def _kept(manifest: Manifest, name: str) -> Version:
    version = manifest.get(name)
    if version is None:
        raise LookupError(f"{manifest.dataset} {manifest.month}: no version {name!r} kept")
    return version


@dataclass(frozen=True)
class CleanedMonth:
    """A month written aside for audit (`audit`), to be published at `path` if it passes."""

    month: TripMonth
    report: CleanReport
    quality: LakeQuality
    metadata: dict[str, Any]

    @property
    def audit(self) -> Path:
        return self.month.audit

    @property
    def path(self) -> Path:
        return self.month.clean


@dataclass(frozen=True)
class Published:
    """The version a published lake month is, and what changed from the one before it."""

    version: str
    previous_version: str | None
    change: Diff | None

    def metadata(self) -> dict[str, object]:
        """The version and, if it replaced another one, what changed."""
        if self.change is None:
            return {"version": self.version}
        return {
            "version": self.version,
            "previous_version": self.previous_version,
            "rows_added": self.change.rows_added,
            "rows_removed": self.change.rows_removed,
            "columns_added": ", ".join(self.change.columns_added),
            "columns_dropped": ", ".join(self.change.columns_dropped),
            "money_before": self.change.money_before,
            "money_after": self.change.money_after,
        }


def publish(cleaned: CleanedMonth, lake_code_version: str) -> Published:
    """Publish an audited month over the lake file and keep it as the raw file's version,
    with what changed since the version published before."""
    month = cleaned.month
    raw, store = month.raw, month.store
    record = read_record(raw)
    sha256 = record.sha256 if record and record.sha256 else file_sha256(raw)
    name = version_of(sha256)
    manifest = store.read()
    if manifest.get(name) is None:  # landed without a source record (placed by hand)
        unrecorded = RemoteFile("", None, None, None, sha256)
        store.keep_raw(manifest, raw, landed_version(unrecorded, raw))
    before = manifest.published
    kept_before = store.path(before, cleaned.path.name) if before else None
    change = (
        diff(kept_before, cleaned.audit, month.ds)
        if before != name and kept_before is not None and kept_before.exists()
        else None
    )
    os.replace(cleaned.audit, cleaned.path)
    lake = LakeProvenance(
        schema_era=cleaned.report.era,
        schema_fingerprint=cleaned.report.fingerprint,
        lake_sha256=file_sha256(cleaned.path),
        lake_code_version=lake_code_version,
        lake_rows=cleaned.report.rows_written,
        money=money_sums(cleaned.path, month.ds),
    )
    store.keep_lake(manifest, cleaned.path, name, lake)
    return Published(name, before, change)
