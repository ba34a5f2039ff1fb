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
    # Seconds between partition maintenance runs (create ahead, drop past retention).
    maintenance_interval_s: float = Field(3600.0, gt=0)
    # Name of the durable JetStream consumer on `evt.>` that every replica shares.
    ingest_durable: str = "log-ingest"
    # Events fetched and stored per batch (one COPY, acknowledged after commit).
    ingest_batch: int = Field(2000, ge=1, le=20_000)
    # Seconds a partly filled batch waits for more events before it is stored (a quiet
    # stream is stored at once; a busy one fills whole batches).
    ingest_linger_s: float = Field(0.05, gt=0, le=5)
    # Pull lanes per replica (each: one pull request, parse, COPY, ack; one stores while
    # another fetches); 0 = this replica only serves streams and leaves ingestion to others.
    ingest_workers: int = Field(2, ge=0, le=16)
    # Seconds before an unacknowledged event is redelivered (set when the consumer is made).
    ingest_ack_wait_s: float = Field(30.0, gt=0, le=3600)
    # Events delivered but not yet acknowledged, across replicas (set when it is made).
    ingest_max_ack_pending: int = Field(20_000, ge=1)
    # Name of the durable JetStream consumer on the `AUDIT` stream (audit records from
    # every service's outbox) that every replica shares.
    audit_durable: str = "log-audit"
    # Audit pull lanes per replica (a workspace's chain is appended under a row lock, so
    # lanes and replicas may share a workspace safely); 0 = leave the trail to others.
    audit_workers: int = Field(1, ge=0, le=8)
    # Audit records fetched and chained per batch (one transaction, acknowledged after it).
    audit_batch: int = Field(500, ge=1, le=5_000)
    # Days an audit record is kept when its workspace has no retention of its own any more
    # (deleted: auth-service no longer knows it); each workspace's own is its
    # `audit_retention_days` in auth-service (`PATCH /v1/workspaces/{id}`, default 365).
    audit_retention_days: int = Field(365, ge=30, le=3650)
    # Seconds between audit retention passes. Every replica runs them: a pass locks each
    # workspace's chain while it prunes it, so a second replica finds nothing left to do.
    audit_prune_interval_s: float = Field(86400.0, gt=0)
    # Live stream server: `picows` on its own port (measured: far less CPU per delivery);
    # `asgi` = only the Starlette route on the HTTP port.
    stream_server: Literal["picows", "asgi"] = "picows"
    # Port of the picows stream server (0 = any free port; fix it behind an Ingress).
    stream_port: int = Field(0, ge=0, le=65535)
    # picows: bytes waiting for a client before it is closed with 1013 (memory bound).
    stream_send_buffer_bytes: int = Field(1024 * 1024, ge=16 * 1024)
    # picows: seconds a closed slow client has to read its close frame before it is cut.
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
    # Seconds a stream ticket from `POST /v1/stream/ticket` stays valid (single use).
    stream_ticket_ttl_s: float = Field(30.0, ge=5, le=300)
    # picows: ping a client idle this long (the asgi route uses the HTTP server's 20 s).
    stream_ping_interval_s: float = Field(20.0, gt=0)
    # picows: close a client that has not answered a ping within this many seconds.
    stream_ping_timeout_s: float = Field(20.0, gt=0)
    # Stream clients one replica accepts; more are closed with 1013 (try another replica).
    stream_max_clients: int = Field(10_000, ge=1)
    # Streams one user may have open on one replica; more are closed with 4429. Per replica
    # on purpose: it bounds what one account takes of a replica's memory and of its
    # `LOG_STREAM_MAX_CLIENTS` slots (across N replicas a user may hold up to N times it).
    stream_max_per_user: int = Field(20, ge=1, le=10_000)
    # Base URL of this replica's stream as the gateway should reach it (default: where it
    # listens; set it when binding 0.0.0.0 or behind NAT).
    public_url: str | None = None

    def allowed_origins(self) -> set[str]:
        return {o.strip().rstrip("/") for o in self.stream_allowed_origins.split(",") if o.strip()}
