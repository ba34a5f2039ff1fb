"""Deleting a team workspace (#17, teams.md §3.5): every data service is asked to purge it
(`rpc.<service>.workspace.purge`), one that fails is retried by the background pass, and
the workspace's row goes once all have answered.

Real NATS responders stand in for the data services, so that one can refuse its first call
(as a service that is restarting) and the calls' headers can be read."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import orjson
from nats.aio.client import Client as NATS

from proto import headers as H
from proto.errors import ErrorCode, ErrorEnvelope
from proto.system import DATA_SERVICES, WORKSPACE_PURGE_SPECS, PurgeResult, PurgeWorkspace
from proto.workspaces import (
    WORKSPACE_CREATE,
    WORKSPACE_DELETE,
    WORKSPACE_GET,
    CreateWorkspace,
    DeleteWorkspace,
    WorkspaceRef,
)
from services.bus.rpc import RpcClient
from services.db.engine import plain_url
from services.errors import RpcError
from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll


class Services:
    """Answers `rpc.<service>.workspace.purge` for one workspace; `failing` services
    refuse their first call (as a service that is restarting)."""

    def __init__(self, nc: NATS, workspace_id: uuid.UUID, failing: set[str]) -> None:
        self.nc = nc
        self.workspace_id = workspace_id
        self.failing = set(failing)
        self.calls: list[tuple[str, Any]] = []
        self.subs: list[Any] = []

    async def start(self) -> None:
        for spec in WORKSPACE_PURGE_SPECS:
            self.subs.append(await self.nc.subscribe(spec.subject, cb=self.answer))
        await self.nc.flush()

    async def stop(self) -> None:
        for sub in self.subs:
            await sub.unsubscribe()

    async def answer(self, msg: Any) -> None:
        service = msg.subject.split(".")[1]
        request = PurgeWorkspace.model_validate_json(msg.data)
        if request.workspace_id != self.workspace_id:
            return  # another test's workspace: not ours to answer
        self.calls.append((service, msg.headers or {}))
        if service in self.failing:
            self.failing.discard(service)
            error = ErrorEnvelope(code=ErrorCode.UNAVAILABLE, message=f"{service} is restarting")
            body = orjson.dumps({"error": error.model_dump(mode="json")})
            await self.nc.publish(msg.reply, body, headers={H.STATUS: H.STATUS_ERROR})
            return
        await msg.respond(PurgeResult(service=service, removed=2).model_dump_json().encode())

    def answered(self, service: str) -> int:
        return sum(name == service for name, _ in self.calls)


async def _row(infra: Any, workspace_id: uuid.UUID) -> Any:
    admin = await asyncpg.connect(plain_url(infra.database_url))
    try:
        return await admin.fetchrow(
            "select w.state, array(select p.service from auth.pending_purges p "
            "where p.kind = 'workspace' and p.target_id = w.id order by 1) as pending "
            "from auth.workspaces w where w.id = $1",
            workspace_id,
        )
    finally:
        await admin.close()


async def test_delete_purges_every_service_retries_a_failure_then_drops_the_row(
    stack, sandbox, nc, infra
) -> None:
    client, alice, ws = await _team(stack, sandbox, nc, "Doomed")
    services = Services(nc, ws, failing={"log"})
    await services.start()
    try:
        deleted = await _delete(client, alice, ws, "Doomed")
        assert deleted.pending == ["log"]
        assert {name for name, _ in services.calls} == set(DATA_SERVICES)
        # Auth asks on its own behalf, not as the member (who has no access left).
        assert all(H.ACCESS in headers for _, headers in services.calls)
        row = await _row(infra, ws)
        assert (row["state"], row["pending"]) == ("deleting", ["log"])
        with_access_gone = await _refused(client, ws, alice.user_id)
        assert with_access_gone.code == ErrorCode.NOT_FOUND

        # The background pass asks log-service again; it answers, the row goes.
        await apoll(
            lambda: _gone(infra, ws), timeout_s=15, what="workspace row removed after retry"
        )
        assert services.answered("log") == 2
        assert all(services.answered(name) == 1 for name in ("bot", "command", "storage"))
    finally:
        await services.stop()


async def test_delete_with_every_service_answering_drops_the_row_at_once(
    stack, sandbox, nc, infra
) -> None:
    client, alice, ws = await _team(stack, sandbox, nc, "Gone")
    services = Services(nc, ws, failing=set())
    await services.start()
    try:
        deleted = await _delete(client, alice, ws, "Gone")
    finally:
        await services.stop()
    assert deleted.pending == []
    assert await _row(infra, ws) is None


class Gathering(Services):
    """Refuses every service's first call; on the retry, holds each answer until all of
    them are asked (or 3 s pass), and notes whether they were asked together."""

    def __init__(self, nc: NATS, workspace_id: uuid.UUID) -> None:
        super().__init__(nc, workspace_id, failing=set(DATA_SERVICES))
        self.retried: set[str] = set()
        self.all_asked = asyncio.Event()
        self.together = False

    async def answer(self, msg: Any) -> None:
        service = msg.subject.split(".")[1]
        ours = PurgeWorkspace.model_validate_json(msg.data).workspace_id == self.workspace_id
        if ours and service not in self.failing:
            self.retried.add(service)
            if self.retried == set(DATA_SERVICES):
                self.together = True
                self.all_asked.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_asked.wait(), timeout=3.0)
        await super().answer(msg)


async def test_a_retry_asks_every_pending_service_of_a_workspace_at_once(
    stack, sandbox, nc, infra
) -> None:
    """Four services that did not answer cost one timeout per pass, not four in a row
    (which also held back every other workspace's retry)."""
    client, alice, ws = await _team(stack, sandbox, nc, "All down")
    services = Gathering(nc, ws)
    await services.start()
    try:
        deleted = await _delete(client, alice, ws, "All down")
        assert sorted(deleted.pending) == sorted(DATA_SERVICES)
        await apoll(
            lambda: _gone(infra, ws), timeout_s=20, what="workspace row removed after retry"
        )
        assert services.together, "the retry asked the services one after another"
    finally:
        await services.stop()


async def _team(stack: Any, sandbox: Any, nc: NATS, name: str) -> tuple[RpcClient, Any, uuid.UUID]:
    """A new user's team workspace `name`, and a client calling auth as the gateway."""
    client = RpcClient(nc, "gateway", timeout_s=15.0)
    owner = await sign_in(stack.url, sandbox)
    created = await client.call(WORKSPACE_CREATE, CreateWorkspace(name=name), user_id=owner.user_id)
    return client, owner, created.id


async def _delete(client: RpcClient, owner: Any, ws: uuid.UUID, name: str) -> Any:
    request = DeleteWorkspace(workspace_id=ws, confirm_name=name)
    return await client.call(WORKSPACE_DELETE, request, user_id=owner.user_id)


async def _gone(infra: Any, ws: uuid.UUID) -> bool:
    return await _row(infra, ws) is None


async def _refused(client: RpcClient, ws: uuid.UUID, user_id: uuid.UUID) -> RpcError:
    try:
        await client.call(WORKSPACE_GET, WorkspaceRef(workspace_id=ws), user_id=user_id)
    except RpcError as err:
        return err
    raise AssertionError("the deleted workspace is still visible")
