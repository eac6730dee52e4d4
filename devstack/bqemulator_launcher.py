"""Run bqemulator offline.

As shipped, bqemulator 1.4.0 refuses to start without downloading DuckDB's ``spatial``
extension, and rejects the ``*/*`` media type that google-cloud-bigquery sends for multipart
load uploads. Both are patched here before handing over to its CLI, e.g.
``python -m devstack.bqemulator_launcher start --rest-port 9050``.
"""

import logging

from bqemulator.api.routes import upload
from bqemulator.cli import main
from bqemulator.storage.engine import DuckDBEngine

_log = logging.getLogger(__name__)

_original_is_permitted = upload._is_permitted_media_type


def _load_spatial_best_effort(self: DuckDBEngine) -> None:
    """Load ``spatial`` if it is already installed (no download); else GEOGRAPHY is unsupported."""
    try:
        self.connection.execute("LOAD spatial")
    except Exception as exc:
        _log.warning("DuckDB spatial extension not installed, GEOGRAPHY disabled: %s", exc)


def _is_permitted_media_type(media_ct: str) -> bool:
    """Also accept ``*/*``, which google-cloud-bigquery sends for multipart uploads."""
    return media_ct == "*/*" or _original_is_permitted(media_ct)


def patch() -> None:
    """Apply both start-up patches."""
    DuckDBEngine._load_spatial = _load_spatial_best_effort
    upload._is_permitted_media_type = _is_permitted_media_type


if __name__ == "__main__":
    patch()
    main()
