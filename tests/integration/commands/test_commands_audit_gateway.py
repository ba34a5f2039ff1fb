"""The gateway's check that a change was recorded (#17 §6.2), end to end: bot-service and
command-service write their audit records through the outbox, each record's id comes back in
`bc-audit` and the gateway's `gateway_audit_missing_total` stays put for those routes."""

from __future__ import annotations

import re

import httpx

from tests.fixtures.auth import sign_in
from tests.integration.commands.gateway_api import command_body

COMMANDS = "/v1/bots/{bot_id}/commands"
STOP = "/v1/bots/{bot_id}/stop"


def missing(metrics: str, route: str) -> float:
    found = re.search(
        r'^gateway_audit_missing_total\{route="' + re.escape(route) + r'"\} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


async def test_a_recorded_change_is_not_counted_as_missing(
    auth_stack, sandbox, sandbox_control, command_service
) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers,
                                 timeout=20) as api:
        before = (await api.get("/metrics")).text
        app = await sandbox_control.create_application("Audited")
        bot = await api.post("/v1/bots", json={"name": "audited", "token": app.token})
        assert bot.status_code == 201, bot.text
        made = await api.post(f"/v1/bots/{bot.json()['id']}/commands",
                              json=command_body(name="ping"))
        assert made.status_code == 201, made.text
        stopped = await api.post(f"/v1/bots/{bot.json()['id']}/stop")
        assert stopped.status_code == 202, stopped.text
        after = (await api.get("/metrics")).text
    assert missing(after, COMMANDS) == missing(before, COMMANDS)
    assert missing(after, STOP) == missing(before, STOP)
    assert missing(after, "/v1/bots") == missing(before, "/v1/bots")
    # ... and the counter is there to be read (a route without a record is counted: the
    # unit test of gateway.audit)
    assert "gateway_audit_missing_total" in after
