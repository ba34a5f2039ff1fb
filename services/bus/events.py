"""JetStream events: the `EVENTS` stream on `evt.>` and typed publishing with a UUIDv7 id;
the `AUDIT` stream on `aud.>` that services' outboxes feed (#17)."""

from __future__ import annotations

import logging
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from proto import headers as H
from proto.events import Event, event_subject
from services.bus.kv import default_replicas
from services.telemetry import metrics
from services.telemetry.tracing import inject_headers

log = logging.getLogger(__name__)

STREAM = "EVENTS"
SUBJECTS = ["evt.>"]


def _file_stream(
    name: str,
    subjects: list[str],
    *,
    duplicate_window_s: float,
    max_age_s: float,
    discard: DiscardPolicy,
    max_bytes: int = -1,
    replicas: int | None,
) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=subjects,
        storage=StorageType.FILE,
        duplicate_window=duplicate_window_s,
        max_age=max_age_s,
        max_bytes=max_bytes,
        discard=discard,
        num_replicas=replicas or default_replicas(),
    )


def events_stream_config(
    *, max_age_s: float = 7 * 24 * 3600, max_bytes: int = 10 * 1024**3, replicas: int | None = None
) -> StreamConfig:
    # Publishers set Nats-Msg-Id = event id: a retried publish within the window is dropped.
    # Full: the oldest events go (the store has them; the live view wants the newest).
    return _file_stream(
        STREAM,
        SUBJECTS,
        duplicate_window_s=300.0,
        max_age_s=max_age_s,
        max_bytes=max_bytes,
        discard=DiscardPolicy.OLD,
        replicas=replicas,
    )


AUDIT_STREAM = "AUDIT"
AUDIT_SUBJECTS = ["aud.>"]


def audit_stream_config(
    *, max_age_s: float = 7 * 24 * 3600, replicas: int | None = None
) -> StreamConfig:
    """Audit records on their way to log-service's chained store. Apart from EVENTS, which
    drops its oldest messages when full: here a full stream refuses new ones (`discard`
    new), so the records wait in the services' outboxes and none is lost. The outbox relay
    sets Nats-Msg-Id = the outbox row's id; the 10-minute window drops a re-publish after
    a relay died between publish and delete."""
    return _file_stream(
        AUDIT_STREAM,
        AUDIT_SUBJECTS,
        duplicate_window_s=600.0,
        max_age_s=max_age_s,
        discard=DiscardPolicy.NEW,
        replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this config. Safe from every replica."""
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def ensure_events_stream(js: JetStreamContext, config: StreamConfig | None = None) -> None:
    await ensure_stream(js, config or events_stream_config())


async def ensure_audit_stream(js: JetStreamContext, config: StreamConfig | None = None) -> None:
    await ensure_stream(js, config or audit_stream_config())


class EventPublisher:
    """Publishes typed events; JetStream's de-duplication makes retries safe."""

    def __init__(self, nc: NATS, service: str, js: JetStreamContext | None = None) -> None:
        self.js = js or nc.jetstream()
        self.service = service

    async def publish(self, domain: str, kind: str, event: Event, *, timeout_s: float = 5.0) -> Any:
        subject = event_subject(domain, event.owner_id, event.bot_id, kind)
        hdrs = {H.MSG_ID: str(event.id)}
        inject_headers(hdrs)
        ack = await self.js.publish(
            subject, event.__pydantic_serializer__.to_json(event), timeout=timeout_s, headers=hdrs
        )
        metrics.EVENTS_PUBLISHED.labels(self.service, domain).inc()
        return ack


async def durable_pull(
    js: JetStreamContext,
    durable: str,
    *,
    filter_subject: str = "evt.>",
    ack_wait_s: float = 30.0,
    max_ack_pending: int = 20_000,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    stream: str = STREAM,
) -> JetStreamContext.PullSubscription:
    """A durable pull consumer of `stream` (EVENTS unless named: log-service's audit lane
    reads AUDIT): shared by every replica that binds to the same name."""
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
        filter_subject=filter_subject,
        deliver_policy=deliver_policy,
    )
    try:
        await js.consumer_info(stream, durable)
    except NotFoundError:
        await js.add_consumer(stream, config)
    return await js.pull_subscribe_bind(durable=durable, stream=stream)
