"""Where run-failure alerts go: a Slack-compatible incoming webhook."""

from __future__ import annotations

import dagster as dg
import requests
from pydantic import Field


class AlertWebhook(dg.ConfigurableResource):
    """A webhook receiving `{"text": ...}`; no URL means no alerts."""

    url: str | None = Field(default=None, repr=False, description="Secret: the webhook URL.")
    timeout_seconds: float = 10.0

    def post(self, text: str) -> None:
        """POST the message; raises requests.RequestException (its text never holds the URL)."""
        try:
            response = requests.post(self.url, json={"text": text}, timeout=self.timeout_seconds)
        except requests.RequestException as err:
            raise type(err)(f"alert webhook unreachable: {type(err).__name__}") from None
        if response.status_code >= 400:
            raise requests.HTTPError(f"alert webhook answered HTTP {response.status_code}")
