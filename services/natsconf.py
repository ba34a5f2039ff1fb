"""The NATS server config: one user per service, permissions derived from the registry.

A service may publish only the RPC subjects it calls, the events and core subjects it
owns, its own audit records and the KV buckets it writes; replies go through
`allow_responses`. The same file is used by `make run`, the tests and (as a template) the
deployment.
"""

from __future__ import annotations

import json
from pathlib import Path

from proto.registry import SERVICES, Registry

# JetStream API and acks: needed to publish events, read consumers and use KV.
_JS = ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>"]


def service_permissions(registry: Registry, service: str) -> dict[str, object]:
    publish = (
        sorted(
            {s.subject for s in registry.called_by(service)}
            | {e.pattern for e in registry.events_published_by(service)}
            | {c.pattern for c in registry.core_published_by(service)}
            | {f"$KV.{k.bucket}.>" for k in registry.kv_written_by(service)}
            # Its own audit records (`services.audit.audit_subject`), from its outbox.
            | {f"aud.*.{service}"}
        )
        + _JS
    )
    subscribe = sorted(
        {f"rpc.{service}.>", "_INBOX.>", "evt.>"}
        | {c.pattern for c in registry.core_subscribed_by(service)}
        | {f"$KV.{k.bucket}.>" for k in registry.kv_written_by(service)}
    )
    return {
        "publish": {"allow": publish},
        "subscribe": {"allow": subscribe},
        "allow_responses": True,
    }


def nats_user(service: str) -> str:
    return f"bc_{service}"


def render_config(
    registry: Registry,
    passwords: dict[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 4222,
    store_dir: Path | None = None,
    admin_password: str | None = None,
    max_payload: int = 16 * 1024 * 1024,
    sync_interval: str | None = None,
    http_port: int | None = None,
) -> str:
    """NATS server config text. `passwords` maps service name -> password."""
    users: list[dict[str, object]] = []
    for svc in SERVICES:
        if svc in passwords:
            users.append(
                {
                    "user": nats_user(svc),
                    "password": passwords[svc],
                    "permissions": service_permissions(registry, svc),
                }
            )
    if admin_password is not None:
        # The operator's CLI and the test harness: everything.
        users.append({"user": "bc_admin", "password": admin_password})
    lines = [
        f"listen: {json.dumps(f'{host}:{port}')}",
        f"max_payload: {max_payload}",
        "max_pending: 67108864",
        'write_deadline: "10s"',
    ]
    if http_port is not None:
        lines.append(f"http: {json.dumps(f'{host}:{http_port}')}")
    if store_dir is not None:
        js = [f"store_dir: {json.dumps(str(store_dir))}"]
        if sync_interval is not None:
            js.append(f"sync_interval: {sync_interval}")
        lines.append("jetstream: {\n  " + "\n  ".join(js) + "\n}")
    if users:
        lines.append("authorization: {\n  users: " + json.dumps(users, indent=2) + "\n}")
    return "\n".join(lines) + "\n"
