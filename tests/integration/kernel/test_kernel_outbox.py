"""The transactional outbox on real PostgreSQL and NATS (#17): a message commits or rolls
back with the change, is published exactly once even when a relay dies between publish and
delete, and replicas' relays share the rows without publishing one twice."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from proto import headers as H
from proto.base import Contract
from proto.events import new_event_id
from services.audit import audit_subject, written_var
from services.bus.events import AUDIT_STREAM, EventPublisher, ensure_audit_stream
from services.bus.rpc import RpcClient, RpcServer
from services.db.bootstrap import OWNER, bootstrap, role, system_role
from services.db.engine import Database, plain_url
from services.outbox import Outbox, OutboxRelay, outbox_table
from services.runtime import ServiceRuntime
from services.settings import with_credentials
from tests.fixtures.infra import apoll, connect_admin, stream_messages

SCHEMA = "outboxtest"


class Note(Contract):
    n: int


@dataclass
class Setup:
    db: Database
    js: object
    outbox: Outbox


@pytest.fixture(scope="module")
async def setup(infra):
    await bootstrap(infra.database_url, [SCHEMA], infra.role_password)
    admin = await asyncpg.connect(plain_url(infra.database_url))
    for statement in [
        f"set role {OWNER}",
        f"drop table if exists {SCHEMA}.outbox",
        *outbox_table(SCHEMA),
        "reset role",
    ]:
        await admin.execute(statement)
    await admin.close()
    db = Database(
        with_credentials(infra.database_url, role(SCHEMA), infra.role_password),
        system_url=with_credentials(infra.database_url, system_role(SCHEMA), infra.role_password),
    )
    nc = await connect_admin(infra)
    js = nc.jetstream()
    await ensure_audit_stream(js)
    yield Setup(db, js, Outbox(SCHEMA))
    await nc.close()
    await db.dispose()


@pytest.fixture
async def empty_outbox(setup: Setup) -> Setup:
    # Rows other tests left (on purpose or after a failure) must not count here.
    await OutboxRelay(setup.db, setup.js, setup.outbox).drain()  # type: ignore[arg-type]
    return setup


def relay(s: Setup, **options: float) -> OutboxRelay:
    return OutboxRelay(s.db, s.js, s.outbox, **options)  # type: ignore[arg-type]


async def stored(js, subject: str) -> list[tuple[str, int]]:
    """(Nats-Msg-Id, n) of every message the AUDIT stream holds on `subject`."""
    return [
        (msg.headers[H.MSG_ID], Note.model_validate_json(msg.data).n)
        for msg in await stream_messages(js, AUDIT_STREAM, subject)
    ]


async def add_notes(s: Setup, subject: str, count: int) -> list[UUID]:
    ids: list[UUID] = []
    async with s.db.user_scope(uuid4()) as session:
        for n in range(count):
            ids.append(await s.outbox.add(session, subject, Note(n=n), stream=AUDIT_STREAM))
    return ids


async def pending_rows(s: Setup) -> int:
    async with s.db.system_scope() as session:
        return int((await session.execute(text("select count(*) from outbox"))).scalar_one())


async def drained(s: Setup) -> bool:
    return await pending_rows(s) == 0


async def test_a_committed_row_is_published_once_with_its_id(empty_outbox: Setup) -> None:
    s = empty_outbox
    subject = audit_subject(uuid4(), SCHEMA)
    # The request being served counts its audit records (its reply's `bc-audit`).
    written_var.set(())
    ids = await add_notes(s, subject, 3)
    assert written_var.get() == tuple(ids)
    assert await relay(s).drain() == 3
    assert await stored(s.js, subject) == [(str(i), n) for n, i in enumerate(ids)]
    assert await pending_rows(s) == 0


async def test_a_row_may_carry_its_payloads_own_id(empty_outbox: Setup) -> None:
    s = empty_outbox
    subject = audit_subject(uuid4(), SCHEMA)
    record_id = new_event_id()
    async with s.db.user_scope(uuid4()) as session:
        added = await s.outbox.add(
            session, subject, Note(n=7), stream=AUDIT_STREAM, row_id=record_id
        )
    assert added == record_id
    assert await relay(s).drain() == 1
    assert await stored(s.js, subject) == [(str(record_id), 7)]


async def test_nothing_is_published_for_a_rolled_back_transaction(empty_outbox: Setup) -> None:
    s = empty_outbox
    subject = audit_subject(uuid4(), SCHEMA)
    s.outbox.wake.clear()

    async def failing_change() -> None:
        async with s.db.user_scope(uuid4()) as session:
            await s.outbox.add(session, subject, Note(n=1), stream=AUDIT_STREAM)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        await failing_change()
    assert not s.outbox.wake.is_set()
    assert await relay(s).drain() == 0
    assert await stored(s.js, subject) == []


class RelayDied(Exception):
    pass


class DiesBeforeDelete(OutboxRelay):
    """A relay whose process ends after JetStream acknowledged, before the delete: its
    transaction never commits, as when the connection drops."""

    async def _delete(self, session: AsyncSession, ids: list[UUID]) -> None:
        raise RelayDied


async def test_a_relay_dying_between_publish_and_delete_publishes_nothing_twice(
    empty_outbox: Setup,
) -> None:
    s = empty_outbox
    subject = audit_subject(uuid4(), SCHEMA)
    ids = await add_notes(s, subject, 5)
    with pytest.raises(RelayDied):
        await DiesBeforeDelete(s.db, s.js, s.outbox).relay_once()  # type: ignore[arg-type]
    # Published, but still in the outbox: the next relay publishes them again.
    assert await pending_rows(s) == 5
    assert await relay(s).drain() == 5
    assert await pending_rows(s) == 0
    # The stream dropped the second publish of each id.
    assert await stored(s.js, subject) == [(str(i), n) for n, i in enumerate(ids)]


async def test_a_row_another_relay_holds_is_skipped_not_waited_for(empty_outbox: Setup) -> None:
    s = empty_outbox
    subject = audit_subject(uuid4(), SCHEMA)
    ids = await add_notes(s, subject, 6)
    held = ids[:2]
    async with s.db.system_scope() as other:
        # Another replica's relay in the middle of its batch.
        await other.execute(
            text("select id from outbox where id = any(:ids) for update"), {"ids": held}
        )
        assert await asyncio.wait_for(relay(s).relay_once(), 10) == 4
        assert sorted(msg_id for msg_id, _ in await stored(s.js, subject)) == sorted(
            str(i) for i in ids[2:]
        )
    assert await relay(s).drain() == 2
    assert sorted(msg_id for msg_id, _ in await stored(s.js, subject)) == sorted(map(str, ids))


async def test_two_relays_share_the_rows_and_publish_each_once(empty_outbox: Setup) -> None:
    s = empty_outbox
    subject = audit_subject(uuid4(), SCHEMA)
    ids = await add_notes(s, subject, 300)
    first, second = relay(s, batch=20), relay(s, batch=20)
    counts = await asyncio.gather(first.drain(), second.drain())
    assert sum(counts) == 300
    assert min(counts) > 0, counts
    published = Counter(msg_id for msg_id, _ in await stored(s.js, subject))
    assert set(published) == {str(i) for i in ids}
    assert max(published.values()) == 1
    assert await pending_rows(s) == 0


async def test_a_commit_wakes_the_running_relay(empty_outbox: Setup) -> None:
    s = empty_outbox
    subject = audit_subject(uuid4(), SCHEMA)
    # A poll far beyond the deadline below: only the wake-up can deliver in time.
    task = asyncio.create_task(relay(s, poll_s=300.0).run())
    try:
        await asyncio.sleep(0)
        await add_notes(s, subject, 1)
        await apoll(lambda: stored(s.js, subject), timeout_s=10.0, what="the relayed message")
        # The relay deletes the row in the transaction it published from; the message is
        # visible before that commits, and cancelling the relay then rolls the delete back.
        await apoll(lambda: drained(s), timeout_s=10.0, what="the relayed row deleted")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await pending_rows(s) == 0


async def test_the_roles_can_do_only_their_part(setup: Setup) -> None:
    with pytest.raises(Exception, match="permission denied"):
        async with setup.db.user_scope(uuid4()) as session:
            await session.execute(text("select count(*) from outbox"))
    with pytest.raises(Exception, match="permission denied"):
        async with setup.db.user_scope(uuid4()) as session:
            await session.execute(text("delete from outbox"))
    with pytest.raises(Exception, match="permission denied"):
        async with setup.db.system_scope() as session:
            await session.execute(
                text(
                    "insert into outbox (id, stream, subject, payload) "
                    "values (gen_random_uuid(), 'AUDIT', 'aud.x.y', '')"
                )
            )
    await add_notes(setup, audit_subject(uuid4(), SCHEMA), 1)
    # Locking is allowed (the relay's `for update`), changing a row is not.
    with pytest.raises(Exception, match=r"row-level security"):
        async with setup.db.system_scope() as session:
            await session.execute(text("update outbox set created_at = now()"))
    await OutboxRelay(setup.db, setup.js, setup.outbox).drain()  # type: ignore[arg-type]


async def test_the_runtime_runs_the_relay_of_a_service_with_an_outbox(
    empty_outbox: Setup, infra
) -> None:
    from storage_service.app import SERVICE

    s = empty_outbox
    nc = await connect_admin(infra)
    definition = dataclasses.replace(SERVICE, outbox=True)
    runtime = ServiceRuntime(
        definition=definition,
        settings=definition.settings_cls(),
        nc=nc,
        js=s.js,  # type: ignore[arg-type]
        rpc=RpcServer(nc, "outboxtest"),
        client=RpcClient(nc, "outboxtest"),
        events=EventPublisher(nc, "outboxtest"),
        db=s.db,
        outbox=s.outbox,
    )
    subject = audit_subject(uuid4(), SCHEMA)
    try:
        assert runtime.start_outbox_relay(poll_s=300.0) is not None
        await add_notes(s, subject, 2)
        await apoll(
            lambda: stored(s.js, subject), timeout_s=10.0, what="the runtime's relay publishing"
        )
    finally:
        await runtime.run_stop_hooks()
        await nc.close()
    assert len(await stored(s.js, subject)) == 2


def test_an_outbox_needs_a_database() -> None:
    from gateway.app import SERVICE

    with pytest.raises(ValueError, match="an outbox needs a database"):
        dataclasses.replace(SERVICE, outbox=True)
