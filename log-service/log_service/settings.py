"""log-service settings: environment variables prefixed `LOG_`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "log"

    # Days of events kept in Postgres; whole daily partitions older than this are dropped.
    retention_days: int = Field(14, ge=1, le=3650)
    # Daily partitions created ahead of today by the maintenance job.
    partitions_ahead_days: int = Field(3, ge=1, le=30)
    maintenance_interval_s: float = Field(3600.0, gt=0)
    # Ingestion: the durable JetStream consumer shared by every replica.
    ingest_durable: str = "log-ingest"
    ingest_batch: int = Field(2000, ge=1, le=20_000)
    # Fetch/insert loops per replica: one parses the next batch while another inserts;
    # 0 = this replica only serves streams (ingestion left to the others).
    ingest_workers: int = Field(2, ge=0, le=16)
    ingest_ack_wait_s: float = Field(30.0, gt=0, le=3600)
    ingest_max_ack_pending: int = Field(20_000, ge=1)
    # Websocket live stream. `picows` serves it on its own port (measured: far less CPU per
    # delivery, no awaited send per connection); `asgi` serves it only on the HTTP port.
    stream_server: Literal["picows", "asgi"] = "picows"
    stream_port: int = Field(0, ge=0, le=65535)
    # picows: bytes waiting in a client's socket buffer before it is closed with 1013.
    stream_send_buffer_bytes: int = Field(1024 * 1024, ge=16 * 1024)
    # picows: how long a closed slow client may take to read its close frame.
    stream_close_timeout_s: float = Field(30.0, gt=0)
    # Comma-separated origins allowed to open the stream (the browser's Origin header, e.g.
    # `https://console.example.com`); empty = only the host the request was sent to.
    stream_allowed_origins: str = ""
    # asgi: frames queued per client before it is closed with 1013 (it cannot keep up).
    stream_queue_max: int = Field(1000, ge=10, le=100_000)
    # Live events held per client while it catches up after `last_event_id`.
    stream_resume_buffer_max: int = Field(10_000, ge=100, le=1_000_000)
    # Events replayed at most on resume; asking for more closes with 1013 (query the API).
    stream_resume_max: int = Field(100_000, ge=100)
    stream_ticket_ttl_s: float = Field(30.0, ge=5, le=300)
    # picows heartbeat: ping after this idle time, close when no pong within the timeout
    # (the asgi route uses the HTTP server's own 20 s / 20 s pings).
    stream_ping_interval_s: float = Field(20.0, gt=0)
    stream_ping_timeout_s: float = Field(20.0, gt=0)
    stream_max_clients: int = Field(10_000, ge=1)
    # The stream's base URL the gateway should proxy to (default: where this replica listens).
    public_url: str | None = None

    def allowed_origins(self) -> set[str]:
        return {o.strip().rstrip("/") for o in self.stream_allowed_origins.split(",") if o.strip()}
