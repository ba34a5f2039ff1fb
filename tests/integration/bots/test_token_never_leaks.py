"""A bot token never leaves bot-service: a full run (add with a bad token, add, start,
live session with the decrypted token, update, replace the token, restart, stop, delete) at
DEBUG log level, then every line the service process wrote (stdout and stderr), every
reply and every event in JetStream is scanned for each token used."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from pydantic import SecretStr

from proto import bots as P
from proto import fleet as F
from proto.errors import ErrorCode
from services.bus.rpc import RpcClient
from services.devstack.embedded import stop_process
from services.devstack.stack import Infra
from services.errors import RpcError
from tests.fixtures.infra import poll
from tests.fixtures.sandbox import SandboxControl, SandboxProcess


class LoggedService:
    def __init__(self, proc: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.proc, self.out, self.err = proc, out, err

    def output(self) -> bytes:
        return self.out.read_bytes() + self.err.read_bytes()


@pytest.fixture
def logged_bot_service(
    infra: Infra, sandbox: SandboxProcess, tmp_path: Path
) -> Iterator[LoggedService]:
    out, err = tmp_path / "bot.stdout", tmp_path / "bot.stderr"
    env = {
        **os.environ,
        **infra.service_env("bot"),
        "DISCORD_BASE_URL": sandbox.base_url,
        "LOG_LEVEL": "DEBUG",
        "BOT_DELETE_STOP_TIMEOUT_S": "5",
    }
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "botcenter"), "service", "bot"],
            env=env,
            stdout=fout,
            stderr=ferr,
            start_new_session=True,
        )
    service = LoggedService(proc, out, err)
    try:
        poll(
            lambda: b"BOTCENTER_READY" in out.read_bytes() or proc.poll() is not None,
            timeout_s=60,
            what="bot-service ready line",
        )
        assert proc.poll() is None, service.output().decode(errors="replace")[-2000:]
        yield service
    finally:
        stop_process(proc)  # type: ignore[arg-type]


async def all_events(nc: NATS) -> list[bytes]:
    js = nc.jetstream()
    info = await js.stream_info("EVENTS")
    found: list[bytes] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg("EVENTS", seq)
        except NotFoundError:  # a deleted or expired sequence
            continue
        found.append((msg.subject or "").encode() + b" " + (msg.data or b""))
    return found


def secrets_of(token: str) -> list[bytes]:
    """The token and its signature part (the secret half of a Discord token)."""
    parts = [token, token.rsplit(".", 1)[-1]]
    return [p.encode() for p in parts if len(p) >= 12]


async def test_no_token_in_logs_replies_or_events(
    logged_bot_service: LoggedService, nc: NATS, sandbox_control: SandboxControl
) -> None:
    client = RpcClient(nc, "gateway", timeout_s=20.0)
    user = uuid.uuid4()
    app = await sandbox_control.create_application("Leak Check", guild_count=1)
    bad_token = "MTEx" + "z" * 22 + ".Gq1w2e.wrongwrongwrongwrongwrongwrong12"
    replies: list[str] = []

    with pytest.raises(RpcError) as err:
        await client.call(P.CREATE_BOT, P.CreateBot(token=SecretStr(bad_token)), user_id=user)
    assert err.value.code is ErrorCode.VALIDATION
    replies.append(repr(err.value) + err.value.message + str(err.value.details))

    bot = await client.call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), user_id=user)
    replies.append(bot.model_dump_json())
    ref = P.BotRef(bot_id=bot.id)
    replies.append((await client.call(P.START_BOT, ref, user_id=user)).model_dump_json())

    # The fleet decrypts the token and logs in with discord.py: a live session.
    await sandbox_control.wait_for_sessions(app.application_id, 1, timeout=30)
    status = await client.call(F.GET_STATUS, ref, user_id=user)
    replies.append(status.model_dump_json())

    update = P.UpdateBot(bot_id=bot.id, presence=P.BotPresence(activity_text="watching logs"))
    replies.append((await client.call(P.UPDATE_BOT, update, user_id=user)).model_dump_json())
    new_token = await sandbox_control.reset_token(app.application_id)
    replaced = await client.call(
        P.REPLACE_TOKEN, P.ReplaceToken(bot_id=bot.id, token=SecretStr(new_token)), user_id=user
    )
    replies.append(replaced.model_dump_json())
    with pytest.raises(RpcError) as err:  # the old token was reset: refused, not echoed
        await client.call(
            P.REPLACE_TOKEN, P.ReplaceToken(bot_id=bot.id, token=SecretStr(app.token)), user_id=user
        )
    replies.append(repr(err.value) + err.value.message + str(err.value.details))
    replies.append((await client.call(P.RESTART_BOT, ref, user_id=user)).model_dump_json())
    await sandbox_control.wait_for_sessions(app.application_id, 1, timeout=30)
    replies.append((await client.call(P.STOP_BOT, ref, user_id=user)).model_dump_json())
    replies.append((await client.call(P.DELETE_BOT, ref, user_id=user)).model_dump_json())

    # Stop the process so every buffered line is on disk, then scan.
    stop_process(logged_bot_service.proc)  # type: ignore[arg-type]
    output = logged_bot_service.output()
    events = await all_events(nc)
    assert b"BOTCENTER_READY" in output
    assert len(output.splitlines()) > 10  # DEBUG logging really ran
    assert any(f"evt.bot.{user}.{bot.id}.created".encode() in e for e in events)
    assert any(f"evt.bot.{user}.{bot.id}.deleted".encode() in e for e in events)
    for token in (app.token, new_token, bad_token):
        for secret in secrets_of(token):
            leaked = [line for line in output.splitlines() if secret in line]
            assert leaked == [], f"token in service output: {leaked[:3]!r}"
            assert [e for e in events if secret in e] == []
            assert all(secret.decode() not in r for r in replies)
    deadline = time.monotonic() + 5
    assert logged_bot_service.proc.wait(max(0.1, deadline - time.monotonic())) is not None
