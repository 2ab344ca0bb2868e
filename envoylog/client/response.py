"""What the client hands back for every request: status, headers and body, nothing lazy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One answer from a gateway, read completely; header names are lower-case."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: int

    @property
    def content_type(self) -> str | None:
        """The media type without parameters ("application/json"), or None when absent."""
        value = self.headers.get("content-type")
        if not value:
            return None
        return value.split(";", 1)[0].strip().lower() or None
