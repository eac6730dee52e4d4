"""Versions of a month in the lake: every release the source published is kept, with its
provenance, in `versions/{ds}/{YYYY-MM}/{version}/` (the raw file and the lake parquet, hard
links to the landed files, so the current version costs no space), and listed in the month's
manifest, `manifest/{ds}/{ds}_{YYYY-MM}.json`, readable without Dagster:

    pandas.json_normalize(json.load(open(path)), "versions")

A version is named by the first 16 hex digits of the sha256 of the source's bytes: the same
bytes are the same version however often they are fetched. The newest `keep` versions are
kept (the current one always); older ones are pruned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from taxi_platform.catalog import TaxiDataset, manifest_path, versions_dir
from taxi_platform.lib.files import atomic_write_text, open_parquet
from taxi_platform.lib.source import RemoteFile
from taxi_platform.schemas import money_columns

DEFAULT_KEEP = 3


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


class MonthVersions:
    """The kept versions of one month of one dataset in the lake at `lake_root`."""

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

    def keep_raw(self, raw: Path, release: Version, keep: int = DEFAULT_KEEP) -> Manifest:
        """Keep the landed raw file as `release` (a hard link) and make it current."""
        _link(raw, self.path(release.version, raw.name))
        manifest = self.read()
        known = manifest.get(release.version)
        if known is None:
            manifest.versions.append(release)
        else:  # the same bytes fetched again: keep what the lake made of them
            known.etag, known.last_modified, known.fetched_at = (
                release.etag,
                release.last_modified,
                release.fetched_at,
            )
        manifest.current = release.version
        self._prune(manifest, keep)
        self._write(manifest)
        return manifest

    def keep_lake(self, clean: Path, version: str, **lake: object) -> Version:
        """Keep the published lake file of `version` (a hard link) and record it."""
        _link(clean, self.path(version, clean.name))
        manifest = self.read()
        release = manifest.get(version)
        if release is None:
            raise LookupError(f"{self.ds.name} {self.month}: no raw version {version} kept")
        for key, value in lake.items():
            setattr(release, key, value)
        manifest.published = version
        self._write(manifest)
        return release

    def record(self, version: str, **values: object) -> None:
        manifest = self.read()
        release = manifest.get(version)
        if release is not None:
            for key, value in values.items():
                setattr(release, key, value)
            self._write(manifest)

    def restore_raw(self, version: str, raw: Path) -> Version:
        """Put a kept version's raw file back in place (atomically) and make it current."""
        manifest = self.read()
        release = manifest.get(version)
        kept = self.path(version, raw.name)
        if release is None or not kept.exists():
            have = ", ".join(v.version for v in manifest.versions) or "none"
            raise LookupError(
                f"{self.ds.name} {self.month}: version {version!r} is not kept (kept: {have})"
            )
        tmp = raw.with_name(f".{raw.name}.restore.tmp")
        tmp.unlink(missing_ok=True)
        os.link(kept, tmp)
        os.replace(tmp, raw)
        manifest.current = version
        self._write(manifest)
        return release

    def _prune(self, manifest: Manifest, keep: int) -> None:
        newest = sorted(manifest.versions, key=lambda v: v.fetched_at, reverse=True)
        kept = {v.version for v in newest[: max(keep, 1)]} | {manifest.current}
        for release in [v for v in manifest.versions if v.version not in kept]:
            shutil.rmtree(self.root / release.version, ignore_errors=True)
            manifest.versions.remove(release)


def release_of(remote: RemoteFile, landed: Path, fetched_at: str | None = None) -> Version:
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


def release_record(release: Version) -> RemoteFile:
    """The source record of a kept version (written beside it when it is restored)."""
    return RemoteFile(
        release.url, release.etag, release.bytes, release.last_modified, release.sha256
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
