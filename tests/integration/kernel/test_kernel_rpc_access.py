"""`bc-access` through the kernel's RPC on a real NATS (#17): set by the caller, forwarded
with the calls a handler makes for its caller, decoded by the receiving handler, a refusal
naming the missing permission at the other end, and the handler's database session
scoped to the caller's workspaces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from proto import headers as H
from proto.access import ALL_PERMISSIONS_MASK, Access, Grant, permission_mask
from proto.base import Contract
from proto.errors import MISSING_PERMISSION, ErrorCode
from proto.registry import rpc
from services.access import require
from services.audit import client_header, client_of, written_var
from services.bus.rpc import RpcClient, RpcContext, RpcServer
from services.db.bootstrap import bootstrap, role
from services.db.engine import Database
from services.errors import RpcError
from services.settings import with_credentials
from tests.fixtures.infra import connect_admin

SCHEMA = "rpcaccess"


class Ask(Contract):
    workspace_id: UUID
    permission: str = "bots.view"
    # `front` calls `back` explicitly for this user (as the fleet acts for a bot's owner).
    as_user: UUID | None = None
    # `back` writes an audit record with this id (as Outbox.add counts one).
    audit_id: UUID | None = None


class Seen(Contract):
    header: str | None
    user_id: UUID | None
    workspaces: list[UUID]
    app_ws: str = ""
    # what `bc-client` said (the address and agent an audit record names)
    ip: str | None = None
    ua: str | None = None


@pytest.fixture
async def services(infra, nc) -> AsyncIterator[tuple[RpcClient, dict[str, object]]]:
    """`front` answers by calling `back` (without naming the access); `back` checks the
    permission and reports what it received, and what its database session was set to."""
    await bootstrap(infra.database_url, [SCHEMA], infra.role_password)
    db = Database(with_credentials(infra.database_url, role(SCHEMA), infra.role_password))
    name = f"t{uuid4().hex[:8]}"
    specs = {
        "front": rpc(f"rpc.{name}.front", Ask, Seen, callers=["gateway"]),
        "back": rpc(f"rpc.{name}.back", Ask, Seen, callers=["gateway"]),
    }
    conn = await connect_admin(infra)
    server = RpcServer(conn, name, db=db)
    inner = RpcClient(conn, name)

    async def back(req: Ask, ctx: RpcContext) -> Seen:
        access = ctx.require_access()
        require(access, req.permission, req.workspace_id)  # type: ignore[arg-type]
        session = await ctx.session()
        app_ws = (await session.execute(text("select current_setting('app.ws', true)"))).scalar()
        ip, ua = client_of(ctx.headers)
        if req.audit_id:
            written_var.set((*written_var.get(), req.audit_id))
        return Seen(
            ip=ip,
            ua=ua,
            header=ctx.headers.get(H.ACCESS),
            user_id=access.user_id,
            workspaces=[g.workspace_id for g in access.grants],
            app_ws=app_ws or "",
        )

    async def front(req: Ask, ctx: RpcContext) -> Seen:
        return await inner.call(specs["back"], req, user_id=req.as_user)  # type: ignore[arg-type]

    server.register(specs["back"], back)  # type: ignore[arg-type]
    server.register(specs["front"], front)  # type: ignore[arg-type]
    await server.start()
    try:
        yield RpcClient(nc, "gateway"), specs
    finally:
        await server.stop()
        await conn.close()
        await db.dispose()


def operator(ws: UUID) -> Access:
    return Access(
        user_id=uuid4(),
        grants=[
            Grant(
                workspace_id=ws,
                role="operator",
                permissions=permission_mask(["bots.view", "bots.control", "logs.view"]),
            )
        ],
    )


async def test_the_access_is_forwarded_with_the_calls_a_handler_makes(services) -> None:
    client, specs = services
    ws = uuid4()
    access = operator(ws)
    seen = await client.call(specs["front"], Ask(workspace_id=ws), access=access)
    assert seen.header == access.encode()
    assert seen.user_id == access.user_id
    assert seen.workspaces == [ws]
    # The handler's session is scoped to the caller's workspaces.
    assert seen.app_ws == f"{{{ws}}}"


async def test_the_client_of_a_change_is_forwarded_with_the_calls_a_handler_makes(
    services,
) -> None:
    """The gateway stamps `bc-client` on a state-changing request; the service two calls
    away, which writes the audit record, still knows the address and the agent."""
    client, specs = services
    ws = uuid4()
    stamped = {H.CLIENT: client_header("203.0.113.9", "curl/8.5 " + "x" * 600)}
    seen = await client.call(specs["front"], Ask(workspace_id=ws), access=operator(ws),
                             headers=stamped)
    assert seen.ip == "203.0.113.9"
    assert seen.ua is not None
    assert seen.ua.startswith("curl/8.5")
    assert len(seen.ua) == 512
    plain = await client.call(specs["front"], Ask(workspace_id=ws), access=operator(ws))
    assert (plain.ip, plain.ua) == (None, None)
    assert client_of({H.CLIENT: "not json"}) == (None, None)


async def test_audit_record_ids_come_back_through_every_reply(services) -> None:
    """The record `back` wrote reaches the first caller (the gateway's check that a change
    was recorded) through `front`'s reply; a call that wrote none brings none back."""
    client, specs = services
    ws = uuid4()
    record = uuid4()
    written_var.set(())
    await client.call(specs["front"], Ask(workspace_id=ws, audit_id=record), access=operator(ws))
    assert written_var.get() == (record,)
    await client.call(specs["front"], Ask(workspace_id=ws), access=operator(ws))
    assert written_var.get() == (record,)


async def test_a_missing_permission_is_refused_by_name_across_services(services) -> None:
    client, specs = services
    ws = uuid4()
    with pytest.raises(RpcError) as caught:
        await client.call(
            specs["front"], Ask(workspace_id=ws, permission="commands.edit"), access=operator(ws)
        )
    assert caught.value.code is ErrorCode.FORBIDDEN
    assert caught.value.message == "missing permission commands.edit"
    assert caught.value.details == {MISSING_PERMISSION: "commands.edit"}


async def test_a_legacy_caller_acts_in_their_personal_workspace_only(services) -> None:
    client, specs = services
    user = uuid4()
    seen = await client.call(specs["front"], Ask(workspace_id=user), user_id=user)
    assert seen.header is None
    assert seen.user_id == user
    assert seen.workspaces == [user]
    assert seen.app_ws == f"{{{user}}}"
    with pytest.raises(RpcError, match=r"missing permission bots\.view"):
        await client.call(specs["front"], Ask(workspace_id=uuid4()), user_id=user)


async def test_a_system_access_for_one_workspace(services) -> None:
    client, specs = services
    ws = uuid4()
    seen = await client.call(
        specs["back"],
        Ask(workspace_id=ws, permission="bots.delete"),
        access=Access.system_for("bot", ws).encode(),
    )
    assert seen.user_id is None
    assert seen.workspaces == [ws]
    assert Access.decode(seen.header or "").grants[0].permissions == ALL_PERMISSIONS_MASK


async def test_a_malformed_access_header_is_a_400(services) -> None:
    client, specs = services
    with pytest.raises(RpcError) as caught:
        await client.call(specs["back"], Ask(workspace_id=uuid4()), access="[2]")
    assert caught.value.code is ErrorCode.INVALID
    assert "malformed bc-access" in caught.value.message


async def test_a_call_made_for_another_user_does_not_carry_the_callers_access(services) -> None:
    client, specs = services
    ws, owner = uuid4(), uuid4()
    member = operator(ws)
    seen = await client.call(specs["front"], Ask(workspace_id=owner, as_user=owner), access=member)
    assert seen.header is None
    assert seen.user_id == owner
    assert seen.workspaces == [owner]
    # For the same user, the access goes along.
    same = await client.call(
        specs["front"], Ask(workspace_id=ws, as_user=member.user_id), access=member
    )
    assert same.header == member.encode()
