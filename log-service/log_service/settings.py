"""log-service settings: environment variables prefixed `LOG_`."""

from __future__ import annotations

from typing import ClassVar

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
    # Fetch/insert loops per replica: one parses the next batch while another inserts.
    ingest_workers: int = Field(2, ge=1, le=16)
    ingest_ack_wait_s: float = Field(30.0, gt=0, le=3600)
    ingest_max_ack_pending: int = Field(20_000, ge=1)
    # Websocket live stream.
    # Comma-separated origins allowed to open the stream (the browser's Origin header, e.g.
    # `https://console.example.com`); empty = only the host the request was sent to.
    stream_allowed_origins: str = ""
    # Frames queued per client before it is closed with 1013 (it cannot keep up).
    stream_queue_max: int = Field(1000, ge=10, le=100_000)
    # Live events held per client while it catches up after `last_event_id`.
    stream_resume_buffer_max: int = Field(10_000, ge=100, le=1_000_000)
    # Events replayed at most on resume; asking for more closes with 1013 (query the API).
    stream_resume_max: int = Field(100_000, ge=100)
    stream_ticket_ttl_s: float = Field(30.0, ge=5, le=300)
    # Application-level heartbeat: a client that answers no ping within the timeout is closed.
    stream_ping_interval_s: float = Field(20.0, gt=0)
    stream_ping_timeout_s: float = Field(20.0, gt=0)
    stream_max_clients: int = Field(10_000, ge=1)
    # The URL the gateway should proxy to (default: the address this replica listens on).
    public_url: str | None = None

    def allowed_origins(self) -> set[str]:
        return {o.strip().rstrip("/") for o in self.stream_allowed_origins.split(",") if o.strip()}
