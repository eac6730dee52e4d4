"""Create the lake bucket ($GCS_BUCKET) in the GCS emulator if missing (docker-compose init)."""

import os
import time

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


def main() -> None:
    client = storage.Client(
        project=os.environ["GCP_PROJECT"],
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=os.environ["STORAGE_EMULATOR_HOST"]),
    )
    name = os.environ["GCS_BUCKET"]
    for attempt in range(30):
        try:
            if client.lookup_bucket(name) is None:
                client.create_bucket(name)
            print(f"bucket {name} ready")
            return
        except Exception as err:  # the emulator may still be starting
            print(f"waiting for the GCS emulator ({attempt + 1}/30): {err}")
            time.sleep(2)
    raise SystemExit(f"could not create bucket {name}")


if __name__ == "__main__":
    main()
