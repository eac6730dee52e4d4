"""Upload a lake file to GCS; skipped when the object already has the same bytes.

GCS replaces an object atomically when an upload completes (a resumable upload that is cut
off, e.g. by a killed process, never becomes visible), so the bucket holds the previous
complete file or the new one. The upload is conditional on the generation seen before it
(`if_generation_match`): a concurrent writer makes it fail instead of interleaving, and the
condition makes the client's own retries of transient errors safe.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from taxi_platform.lib.identifiers import gcs_bucket

UPLOAD_TIMEOUT_S = 600
# Resumable uploads in 16 MiB chunks (a multiple of 256 KiB): the client's default, 100 MiB,
# is held in memory per chunk.
UPLOAD_CHUNK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class UploadResult:
    uri: str
    size: int
    md5: str
    generation: int
    uploaded: bool


@dataclass(frozen=True)
class StoredObject:
    """An object as the bucket reports it."""

    size: int
    md5: str
    generation: int


def stored_object(client: storage.Client, bucket_name: str, key: str) -> StoredObject | None:
    """The object at gs://bucket/key as stored (None if absent)."""
    blob = client.bucket(bucket_name).get_blob(key)
    return None if blob is None else StoredObject(blob.size, blob.md5_hash, blob.generation)


def file_md5(path: Path) -> str:
    """Base64 MD5 of a file, in the form GCS reports it."""
    with path.open("rb") as fh:
        return base64.b64encode(hashlib.file_digest(fh, "md5").digest()).decode()


def upload_if_changed(
    client: storage.Client, bucket_name: str, key: str, path: Path
) -> UploadResult:
    """Upload `path` to gs://bucket/key unless identical; verify the stored checksum."""
    uri = f"gs://{gcs_bucket(bucket_name)}/{key}"
    local_md5 = file_md5(path)
    size = path.stat().st_size
    bucket = client.bucket(bucket_name)
    existing = bucket.get_blob(key)
    if existing is not None and existing.md5_hash == local_md5 and existing.size == size:
        return UploadResult(uri, size, local_md5, existing.generation, uploaded=False)
    blob = bucket.blob(key, chunk_size=UPLOAD_CHUNK_BYTES)
    blob.upload_from_filename(
        str(path),
        content_type="application/vnd.apache.parquet",
        checksum="crc32c",
        timeout=UPLOAD_TIMEOUT_S,
        if_generation_match=existing.generation if existing is not None else 0,
        retry=DEFAULT_RETRY,
    )
    blob.reload()
    if blob.md5_hash != local_md5 or blob.size != size:
        raise OSError(f"{uri}: stored object does not match {path.name} (md5/size differ)")
    return UploadResult(uri, size, local_md5, blob.generation, uploaded=True)
