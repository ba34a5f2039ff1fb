"""What the stream's HTTP routes and the RPC handlers are given by `app.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from log_service.settings import Settings

if TYPE_CHECKING:  # the RPC handlers need only the address: not the hub's imports
    from log_service.stream.auth import JwtAuthenticator, TicketStore
    from log_service.stream.hub import Hub


class StreamAddress:
    """Where this replica's stream is served: the public URL if one is set, else the
    picows server once it runs, else the kernel's HTTP server (whose address is known
    only once it listens, hence a function)."""

    def __init__(self, settings: Settings, http_url: Callable[[], str | None]) -> None:
        self.public_url = settings.public_url
        self.http_url = http_url
        self.fast_url: str | None = None

    def url(self) -> str:
        """The websocket URL of `/v1/stream` here."""
        base = self.public_url or self.fast_url or str(self.http_url() or "")
        url = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/")
        return url + "/v1/stream"


@dataclass(frozen=True, slots=True)
class StreamContext:
    hub: Hub
    authenticator: JwtAuthenticator
    tickets: TicketStore
    address: StreamAddress
    settings: Settings
