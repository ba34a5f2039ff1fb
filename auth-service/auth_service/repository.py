"""Every SQL query of auth-service. Functions take the message's session and only flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import (
    ApiToken,
    Identity,
    LoginFlow,
    PendingPurge,
    RefreshToken,
    SigningKey,
    User,
)
from services.db import rows_touched

# Core statements on the model classes' tables: callers get plain rows (attribute access,
# `RETURNING` rows) rather than ORM instances tracked by the session.
users = User.__table__
identities = Identity.__table__
login_flows = LoginFlow.__table__
refresh_tokens = RefreshToken.__table__
api_tokens = ApiToken.__table__
signing_keys = SigningKey.__table__
pending_purges = PendingPurge.__table__

# ------------------------------------------------------------------------------- users


async def get_user(s: AsyncSession, user_id: UUID) -> Row[Any] | None:
    return (await s.execute(select(users).where(users.c.id == user_id))).first()


async def insert_user(
    s: AsyncSession,
    user_id: UUID,
    display_name: str,
    email: str | None,
    avatar_url: str | None,
) -> None:
    await s.execute(
        insert(users).values(
            id=user_id, display_name=display_name, email=email, avatar_url=avatar_url
        )
    )


_USER_WITH_IDENTITIES = text(
    """
    select u.id, u.display_name, u.email, u.avatar_url, u.created_at,
           coalesce((select json_agg(json_build_object(
                         'provider', i.provider, 'subject', i.subject, 'email', i.email,
                         'display_name', i.display_name, 'linked_at', i.created_at)
                       order by i.created_at)
                     from identities i where i.owner_id = u.id), '[]'::json) as identities
    from users u where u.id = :id
    """
)


async def user_with_identities(s: AsyncSession, user_id: UUID) -> Row[Any] | None:
    """The user and its identities in one round trip (the hot path of GET /v1/me)."""
    return (await s.execute(_USER_WITH_IDENTITIES, {"id": user_id})).first()


# `GET /v1/me` is the hottest read there is (every page load, every client poll), so it
# skips the ORM session: one prepared statement on a small pool of its own, one round
# trip. The statement scopes itself: the materialised CTE sets `app.user_id` for the
# statement's own (implicit) transaction, and the `offset 0` lateral cannot be pulled up
# into a join, so the users and identities scans (and their row-level security policies)
# run only after it. Were that order ever different, the policies would hide the row and
# the read would fail closed (401), never show another user's data.
_ME = """
    with me as materialized (
        select $1::uuid as id, set_config('app.user_id', $1::text, true) as scoped
    )
    select u.id, u.display_name, u.email, u.avatar_url, u.created_at, u.identities
    from me cross join lateral (
        select u.id, u.display_name, u.email, u.avatar_url, u.created_at,
               coalesce((select json_agg(json_build_object(
                             'provider', i.provider, 'subject', i.subject, 'email', i.email,
                             'display_name', i.display_name, 'linked_at', i.created_at)
                           order by i.created_at)
                         from identities i where i.owner_id = u.id), '[]'::json)::text
                 as identities
        from users u where u.id = me.id and me.scoped is not null
        offset 0
    ) u
"""


async def _no_reset(_: asyncpg.Connection) -> None:
    """The statement leaves no session state behind (its setting is transaction-local)."""


class UserReader:
    """The `GET /v1/me` read on `size` connections of its own (opened on first use, as the
    service's database role, so row-level security applies as everywhere else)."""

    def __init__(self, dsn: str, *, size: int = 8) -> None:
        self._dsn = dsn
        self._size = size
        self._pool: asyncpg.Pool | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=0,
                max_size=self._size,
                reset=_no_reset,
                max_inactive_connection_lifetime=300.0,
                # One statement, always the same shape: plan it once, not per call (the
                # planner would keep re-planning it for its parameter otherwise).
                server_settings={"plan_cache_mode": "force_generic_plan"},
            )
            if self._pool is None:
                self._pool = pool
            else:
                await pool.close()
        return self._pool

    async def user_with_identities(self, user_id: UUID) -> asyncpg.Record | None:
        """id, display_name, email, avatar_url, created_at and identities (a JSON text)."""
        pool = self._pool or await self._get_pool()
        async with pool.acquire() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(_ME, user_id)
        return row

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def update_user(s: AsyncSession, user_id: UUID, **values: Any) -> Row[Any] | None:
    stmt = (
        update(users)
        .where(users.c.id == user_id)
        .values(**values, updated_at=func.now())
        .returning(*users.c)
    )
    return (await s.execute(stmt)).first()


async def delete_user(s: AsyncSession, user_id: UUID) -> bool:
    result = await s.execute(delete(users).where(users.c.id == user_id).returning(users.c.id))
    return result.first() is not None


async def user_identities(s: AsyncSession, user_id: UUID) -> Sequence[Row[Any]]:
    stmt = select(identities).where(identities.c.owner_id == user_id).order_by("created_at")
    return (await s.execute(stmt)).all()


async def find_identity(s: AsyncSession, provider: str, subject: str) -> Row[Any] | None:
    stmt = select(identities).where(
        identities.c.provider == provider, identities.c.subject == subject
    )
    return (await s.execute(stmt)).first()


async def insert_identity(s: AsyncSession, **values: Any) -> None:
    await s.execute(insert(identities).values(**values))


async def update_identity(s: AsyncSession, identity_id: UUID, **values: Any) -> None:
    await s.execute(
        update(identities)
        .where(identities.c.id == identity_id)
        .values(**values, updated_at=func.now())
    )


# --------------------------------------------------------------------------- login flows


async def insert_login_flow(s: AsyncSession, **values: Any) -> None:
    await s.execute(insert(login_flows).values(**values))


async def take_login_flow(s: AsyncSession, state: str) -> Row[Any] | None:
    """Delete and return the flow: a state is good for one callback only."""
    stmt = delete(login_flows).where(login_flows.c.state == state).returning(*login_flows.c)
    return (await s.execute(stmt)).first()


async def prune_login_flows(s: AsyncSession, now: datetime) -> None:
    await s.execute(delete(login_flows).where(login_flows.c.expires_at < now))


# ------------------------------------------------------------------------ refresh tokens


async def insert_refresh(s: AsyncSession, **values: Any) -> None:
    await s.execute(insert(refresh_tokens).values(**values))


async def use_refresh(s: AsyncSession, token_hash: str, now: datetime) -> Row[Any] | None:
    """Mark a live refresh token used, atomically; None if it is unknown, used or revoked."""
    stmt = (
        update(refresh_tokens)
        .where(
            refresh_tokens.c.token_hash == token_hash,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(*refresh_tokens.c)
    )
    return (await s.execute(stmt)).first()


async def find_refresh(s: AsyncSession, token_hash: str) -> Row[Any] | None:
    stmt = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
    return (await s.execute(stmt)).first()


async def _revoke_live_refresh(s: AsyncSession, which: ColumnElement[bool], now: datetime) -> int:
    stmt = (
        update(refresh_tokens)
        .where(which, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return rows_touched(await s.execute(stmt))


async def revoke_family(s: AsyncSession, family_id: UUID, now: datetime) -> int:
    return await _revoke_live_refresh(s, refresh_tokens.c.family_id == family_id, now)


async def revoke_user_refresh(s: AsyncSession, user_id: UUID, now: datetime) -> int:
    return await _revoke_live_refresh(s, refresh_tokens.c.owner_id == user_id, now)


# ---------------------------------------------------------------------------- api tokens


async def insert_api_token(s: AsyncSession, **values: Any) -> Row[Any]:
    row = (await s.execute(insert(api_tokens).values(**values).returning(*api_tokens.c))).first()
    assert row is not None
    return row


async def list_api_tokens(s: AsyncSession, user_id: UUID, now: datetime) -> Sequence[Row[Any]]:
    stmt = (
        select(api_tokens)
        .where(
            api_tokens.c.owner_id == user_id,
            api_tokens.c.revoked_at.is_(None),
            or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
        )
        .order_by(api_tokens.c.created_at)
    )
    return (await s.execute(stmt)).all()


async def count_api_tokens(s: AsyncSession, user_id: UUID) -> int:
    stmt = select(func.count()).where(
        api_tokens.c.owner_id == user_id, api_tokens.c.revoked_at.is_(None)
    )
    return int((await s.execute(stmt)).scalar_one())


async def revoke_api_token(s: AsyncSession, token_id: UUID, now: datetime) -> bool:
    stmt = (
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(api_tokens.c.id)
    )
    return (await s.execute(stmt)).first() is not None


async def check_api_token(
    s: AsyncSession, token_hash: str, now: datetime, touch_before: datetime
) -> Row[Any] | None:
    """The live token with this hash; records its use (at most once per interval)."""
    live = and_(
        api_tokens.c.token_hash == token_hash,
        api_tokens.c.revoked_at.is_(None),
        or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
    )
    row = (await s.execute(select(api_tokens).where(live))).first()
    if row is not None and (row.last_used_at is None or row.last_used_at < touch_before):
        await s.execute(
            update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now)
        )
    return row


# -------------------------------------------------------------------------- signing keys


async def signing_key_rows(s: AsyncSession, limit: int = 32) -> Sequence[Row[Any]]:
    """The newest keys that are not retired, newest activation first (pending ones first)."""
    stmt = (
        select(signing_keys, func.now().label("db_now"))
        .where(signing_keys.c.retired_at.is_(None))
        .order_by(signing_keys.c.active_from.desc(), signing_keys.c.created_at.desc())
        .limit(limit)
    )
    return (await s.execute(stmt)).all()


async def retire_signing_key(s: AsyncSession, kid: str) -> bool:
    """Mark a key retired now; False when there is no such key that is not retired yet."""
    stmt = (
        update(signing_keys)
        .where(signing_keys.c.kid == kid, signing_keys.c.retired_at.is_(None))
        .values(retired_at=func.now())
        .returning(signing_keys.c.kid)
    )
    return (await s.execute(stmt)).first() is not None


async def insert_signing_key(s: AsyncSession, *, active_in_s: float, **values: Any) -> None:
    """A new key, published at once and signing `active_in_s` seconds from now (DB clock)."""
    active_from = func.now() + func.make_interval(0, 0, 0, 0, 0, 0, active_in_s)
    await s.execute(insert(signing_keys).values(active_from=active_from, **values))


async def lock_keys(s: AsyncSession) -> None:
    """Serialise key creation across replicas (transaction-scoped advisory lock)."""
    await s.execute(select(func.pg_advisory_xact_lock(0x61757468)))


# ------------------------------------------------------------------------ pending purges


async def add_pending_purges(s: AsyncSession, user_id: UUID, services: Sequence[str]) -> None:
    for service in services:
        existing = await s.execute(
            select(pending_purges.c.service).where(
                pending_purges.c.owner_id == user_id, pending_purges.c.service == service
            )
        )
        if existing.first() is None:
            await s.execute(insert(pending_purges).values(owner_id=user_id, service=service))


async def user_pending_purges(s: AsyncSession, user_id: UUID) -> list[str]:
    stmt = select(pending_purges.c.service).where(pending_purges.c.owner_id == user_id)
    return [r.service for r in (await s.execute(stmt)).all()]


async def all_pending_purges(s: AsyncSession, limit: int = 100) -> Sequence[Row[Any]]:
    stmt = select(pending_purges).order_by(pending_purges.c.created_at).limit(limit)
    return (await s.execute(stmt)).all()


async def purge_done(s: AsyncSession, user_id: UUID, service: str) -> None:
    await s.execute(
        delete(pending_purges).where(
            pending_purges.c.owner_id == user_id, pending_purges.c.service == service
        )
    )


async def purge_failed(s: AsyncSession, user_id: UUID, service: str, error: str) -> None:
    await s.execute(
        update(pending_purges)
        .where(pending_purges.c.owner_id == user_id, pending_purges.c.service == service)
        .values(attempts=pending_purges.c.attempts + 1, last_error=error[:500])
    )
