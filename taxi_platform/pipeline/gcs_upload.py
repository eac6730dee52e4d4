"""Upload a lake file to GCS; skipped when the object already has the same bytes."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from google.cloud import storage

UPLOAD_TIMEOUT_S = 600


@dataclass(frozen=True)
class UploadResult:
    uri: str
    size: int
    md5: str
    uploaded: bool


def file_md5(path: Path) -> str:
    """Base64 MD5 of a file, in the form GCS reports it."""
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def upload_if_changed(
    client: storage.Client, bucket_name: str, key: str, path: Path
) -> UploadResult:
    """Upload `path` to gs://bucket/key unless identical; verify the stored checksum."""
    uri = f"gs://{bucket_name}/{key}"
    local_md5 = file_md5(path)
    size = path.stat().st_size
    bucket = client.bucket(bucket_name)
    existing = bucket.get_blob(key)
    if existing is not None and existing.md5_hash == local_md5 and existing.size == size:
        return UploadResult(uri=uri, size=size, md5=local_md5, uploaded=False)
    blob = bucket.blob(key)
    blob.upload_from_filename(
        str(path),
        content_type="application/vnd.apache.parquet",
        checksum="crc32c",
        timeout=UPLOAD_TIMEOUT_S,
    )
    blob.reload()
    if blob.md5_hash != local_md5 or blob.size != size:
        raise OSError(f"{uri}: stored object does not match {path.name} (md5/size differ)")
    return UploadResult(uri=uri, size=size, md5=local_md5, uploaded=True)
