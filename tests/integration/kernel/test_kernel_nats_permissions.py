"""The per-service NATS users of `make run`: a service may publish only what it owns."""

from __future__ import annotations

import asyncio

import nats
import pytest

from tests.fixtures.infra import apoll, connect_admin


async def _connect_as(infra, service: str, errors: list[str]):
    env = infra.service_env(service)
    prefix = service.upper() + "_"

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return await nats.connect(
        infra.nats_url,
        user=env[prefix + "NATS_USER"],
        password=env[prefix + "NATS_PASSWORD"],
        error_cb=on_error,
        allow_reconnect=False,
    )


async def test_a_service_cannot_publish_a_subject_it_does_not_own(infra) -> None:
    admin = await connect_admin(infra)
    got: list[str] = []

    async def record(msg) -> None:
        got.append(msg.subject)

    await admin.subscribe("rpc.auth.status", cb=record)
    await admin.subscribe("rpc.log.status", cb=record)
    await admin.flush()

    errors: list[str] = []
    # The log-service serves rpc.log.status but calls nobody's status: both are refused.
    log_conn = await _connect_as(infra, "log", errors)
    await log_conn.publish("rpc.auth.status", b"{}")
    await log_conn.flush()
    await apoll(lambda: any("permissions violation" in e.lower() for e in errors), what="violation")
    assert any("rpc.auth.status" in e for e in errors)

    # The gateway is a declared caller of rpc.log.status: allowed and delivered.
    gw_conn = await _connect_as(infra, "gateway", [])
    await gw_conn.publish("rpc.log.status", b"{}")
    await gw_conn.flush()
    await apoll(lambda: "rpc.log.status" in got, what="allowed publish")
    await admin.flush()
    assert "rpc.auth.status" not in got
    for conn in (log_conn, gw_conn, admin):
        await conn.close()


async def test_a_service_cannot_use_a_wrong_password(infra) -> None:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    with pytest.raises(Exception):  # noqa: B017 - nats-py raises its own connect errors
        await asyncio.wait_for(
            nats.connect(
                infra.nats_url,
                user="bc_bot",
                password="wrong",
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=on_error,
            ),
            5,
        )
    assert any("authorization" in e.lower() for e in errors)
