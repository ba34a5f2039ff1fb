"""Every SQL query of auth-service. Functions take the message's session and only flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Uuid,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import (
    ApiToken,
    Identity,
    Invitation,
    LoginFlow,
    Membership,
    PendingPurge,
    RefreshToken,
    Role,
    SigningKey,
    User,
    Workspace,
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
workspaces = Workspace.__table__
memberships = Membership.__table__
roles = Role.__table__
invitations = Invitation.__table__

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


async def add_pending_purges(
    s: AsyncSession, target_id: UUID, services: Sequence[str], kind: str = "user"
) -> None:
    for service in services:
        await s.execute(
            pg_insert(pending_purges)
            .values(kind=kind, target_id=target_id, service=service)
            .on_conflict_do_nothing()
        )


def _purge_row(kind: str, target_id: UUID, service: str) -> ColumnElement[bool]:
    return and_(
        pending_purges.c.kind == kind,
        pending_purges.c.target_id == target_id,
        pending_purges.c.service == service,
    )


async def pending_purge_services(s: AsyncSession, target_id: UUID, kind: str = "user") -> list[str]:
    stmt = select(pending_purges.c.service).where(
        pending_purges.c.kind == kind, pending_purges.c.target_id == target_id
    )
    return [r.service for r in (await s.execute(stmt)).all()]


async def all_pending_purges(
    s: AsyncSession, kind: str = "user", limit: int = 100
) -> Sequence[Row[Any]]:
    stmt = (
        select(pending_purges)
        .where(pending_purges.c.kind == kind)
        .order_by(pending_purges.c.created_at)
        .limit(limit)
    )
    return (await s.execute(stmt)).all()


async def purge_done(s: AsyncSession, target_id: UUID, service: str, kind: str = "user") -> None:
    await s.execute(delete(pending_purges).where(_purge_row(kind, target_id, service)))


async def purge_failed(
    s: AsyncSession, target_id: UUID, service: str, error: str, kind: str = "user"
) -> None:
    await s.execute(
        update(pending_purges)
        .where(_purge_row(kind, target_id, service))
        .values(attempts=pending_purges.c.attempts + 1, last_error=error[:500])
    )


# ----------------------------------------------------------------------------- workspaces
# The team tables' row-level security keys on `app.ws`, the caller's workspaces; a team
# transaction sets it first from the caller's own membership rows (`scope_workspaces`).

_SCOPE = text(
    "select set_config('app.ws', coalesce((select array_agg(m.workspace_id) from memberships m "
    "where m.user_id = :u)::text, '{}'), true)"
)
_ENTER = text("select set_config('app.ws', (app_ws() || cast(:ws as uuid))::text, true)")


async def audit_retentions(s: AsyncSession, workspace_ids: Sequence[UUID]) -> dict[UUID, int]:
    """`audit_retention_days` of those of the workspaces that exist (system scope)."""
    stmt = select(workspaces.c.id, workspaces.c.audit_retention_days).where(
        workspaces.c.id.in_(list(workspace_ids))
    )
    return {row.id: row.audit_retention_days for row in await s.execute(stmt)}


async def scope_workspaces(s: AsyncSession, user_id: UUID) -> None:
    """Let this transaction see the workspaces `user_id` is a member of (now, in the DB)."""
    await s.execute(_SCOPE, {"u": user_id})


async def enter_workspace(s: AsyncSession, workspace_id: UUID) -> None:
    """Add a workspace the caller is creating to this transaction's scope."""
    await s.execute(_ENTER, {"ws": str(workspace_id)})


def _membership_columns() -> tuple[Any, ...]:
    """A membership's columns with its custom role's permissions (outer join on roles)."""
    return (
        memberships.c.workspace_id,
        memberships.c.user_id,
        memberships.c.builtin_role,
        memberships.c.role_id,
        memberships.c.bot_ids,
        memberships.c.created_at.label("joined_at"),
        roles.c.permissions.label("role_permissions"),
    )


def _grants() -> Any:
    """Memberships with their workspace and custom role's permissions (active workspaces)."""
    return (
        select(
            *_membership_columns(),
            workspaces.c.name,
            workspaces.c.personal,
            workspaces.c.owner_user_id,
            workspaces.c.avatar_file_id,
            workspaces.c.audit_retention_days,
            workspaces.c.created_at,
        )
        .select_from(
            memberships.join(workspaces, workspaces.c.id == memberships.c.workspace_id).outerjoin(
                roles, roles.c.id == memberships.c.role_id
            )
        )
        .where(workspaces.c.state == "active")
    )


async def grant_row(
    s: AsyncSession, workspace_id: UUID, user_id: UUID, *, lock: bool = False
) -> Row[Any] | None:
    """`user_id`'s membership of an active workspace; `lock` serialises changes to the
    workspace (one owner, member limits) until the transaction ends."""
    stmt = _grants().where(
        memberships.c.workspace_id == workspace_id, memberships.c.user_id == user_id
    )
    if lock:
        stmt = stmt.with_for_update(of=workspaces)
    return (await s.execute(stmt)).first()


async def user_grants(s: AsyncSession, user_id: UUID) -> Sequence[Row[Any]]:
    stmt = (
        _grants()
        .where(memberships.c.user_id == user_id)
        .order_by(workspaces.c.personal.desc(), workspaces.c.created_at, workspaces.c.id)
    )
    return (await s.execute(stmt)).all()


async def access_version(s: AsyncSession, user_id: UUID) -> int | None:
    stmt = select(users.c.access_version).where(users.c.id == user_id)
    return (await s.execute(stmt)).scalar_one_or_none()


_BUMP = text("select user_id, access_version from bump_access_version(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(Uuid))
)


async def bump_access(s: AsyncSession, user_ids: Sequence[UUID]) -> dict[UUID, int]:
    """Each user's access_version + 1; returns the new versions."""
    if not user_ids:
        return {}
    result = await s.execute(_BUMP, {"ids": list(user_ids)})
    return {row.user_id: row.access_version for row in result.all()}


async def insert_workspace(s: AsyncSession, **values: Any) -> None:
    await s.execute(insert(workspaces).values(**values))


async def delete_workspace(s: AsyncSession, workspace_id: UUID) -> None:
    """The row of a workspace being deleted (its memberships, roles and invitations go by
    cascade); only once every service purged its data."""
    await s.execute(
        delete(workspaces).where(workspaces.c.id == workspace_id, workspaces.c.state == "deleting")
    )


async def update_workspace(s: AsyncSession, workspace_id: UUID, **values: Any) -> None:
    await s.execute(
        update(workspaces)
        .where(workspaces.c.id == workspace_id)
        .values(**values, updated_at=func.now())
    )


async def insert_personal_workspace(s: AsyncSession, user_id: UUID) -> None:
    """The personal workspace of a new user (its id is the user's) and its owner membership."""
    await s.execute(
        insert(workspaces).values(id=user_id, name="Personal", personal=True, owner_user_id=user_id)
    )
    await s.execute(
        insert(memberships).values(workspace_id=user_id, user_id=user_id, builtin_role="owner")
    )


async def owned_team_workspaces(s: AsyncSession, user_id: UUID) -> list[str]:
    stmt = (
        select(workspaces.c.name)
        .where(
            workspaces.c.owner_user_id == user_id,
            workspaces.c.personal.is_(False),
            workspaces.c.state == "active",
        )
        .order_by(workspaces.c.name)
    )
    return list((await s.execute(stmt)).scalars())


# ---------------------------------------------------------------------------- memberships


async def members(
    s: AsyncSession, workspace_id: UUID, user_id: UUID | None = None
) -> Sequence[Row[Any]]:
    """The workspace's members with their names (or only `user_id`), oldest first."""
    stmt: Any = (
        select(
            *_membership_columns(),
            users.c.display_name,
            users.c.avatar_url,
        )
        .select_from(
            memberships.join(users, users.c.id == memberships.c.user_id).outerjoin(
                roles, roles.c.id == memberships.c.role_id
            )
        )
        .where(memberships.c.workspace_id == workspace_id)
        .order_by(memberships.c.created_at, memberships.c.user_id)
    )
    if user_id is not None:
        stmt = stmt.where(memberships.c.user_id == user_id)
    return (await s.execute(stmt)).all()


async def member_ids(s: AsyncSession, workspace_id: UUID) -> list[UUID]:
    stmt = select(memberships.c.user_id).where(memberships.c.workspace_id == workspace_id)
    return list((await s.execute(stmt)).scalars())


async def count_members(s: AsyncSession, workspace_id: UUID) -> int:
    stmt = select(func.count()).where(memberships.c.workspace_id == workspace_id)
    return int((await s.execute(stmt)).scalar_one())


async def count_memberships(s: AsyncSession, user_id: UUID) -> int:
    stmt = select(func.count()).where(memberships.c.user_id == user_id)
    return int((await s.execute(stmt)).scalar_one())


async def is_member(s: AsyncSession, workspace_id: UUID, user_id: UUID) -> bool:
    stmt = select(memberships.c.user_id).where(
        memberships.c.workspace_id == workspace_id, memberships.c.user_id == user_id
    )
    return (await s.execute(stmt)).first() is not None


async def insert_membership(s: AsyncSession, **values: Any) -> None:
    await s.execute(insert(memberships).values(**values))


async def join_workspace(s: AsyncSession, **values: Any) -> bool:
    """Insert a membership unless the user has one already; False if they had. A
    concurrent insert of the same membership makes this wait for it: once that commits,
    this one is the no-op (never a duplicate-key error)."""
    stmt = (
        pg_insert(memberships)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "user_id"])
        .returning(memberships.c.user_id)
    )
    return (await s.execute(stmt)).first() is not None


async def update_membership(
    s: AsyncSession, workspace_id: UUID, user_id: UUID, **values: Any
) -> None:
    await s.execute(
        update(memberships)
        .where(memberships.c.workspace_id == workspace_id, memberships.c.user_id == user_id)
        .values(**values)
    )


async def delete_membership(s: AsyncSession, workspace_id: UUID, user_id: UUID) -> bool:
    stmt = (
        delete(memberships)
        .where(memberships.c.workspace_id == workspace_id, memberships.c.user_id == user_id)
        .returning(memberships.c.user_id)
    )
    return (await s.execute(stmt)).first() is not None


async def delete_memberships(s: AsyncSession, workspace_id: UUID) -> list[UUID]:
    stmt = (
        delete(memberships)
        .where(memberships.c.workspace_id == workspace_id)
        .returning(memberships.c.user_id)
    )
    return list((await s.execute(stmt)).scalars())


async def user_emails(s: AsyncSession, user_id: UUID) -> set[str]:
    """The user's e-mail and those of their linked identities, case-folded."""
    account = select(users.c.email).where(users.c.id == user_id)
    linked = select(identities.c.email).where(identities.c.owner_id == user_id)
    found = (await s.execute(account.union_all(linked))).scalars()
    return {email.casefold() for email in found if email}


# ---------------------------------------------------------------------------------- roles


async def list_roles(s: AsyncSession, workspace_id: UUID) -> Sequence[Row[Any]]:
    holders = (
        select(func.count())
        .where(memberships.c.role_id == roles.c.id)
        .scalar_subquery()
        .label("members")
    )
    stmt = (
        select(roles, holders)
        .where(roles.c.workspace_id == workspace_id)
        .order_by(roles.c.created_at, roles.c.id)
    )
    return (await s.execute(stmt)).all()


async def builtin_role_counts(s: AsyncSession, workspace_id: UUID) -> dict[str, int]:
    stmt = (
        select(memberships.c.builtin_role, func.count())
        .where(memberships.c.workspace_id == workspace_id, memberships.c.builtin_role.is_not(None))
        .group_by(memberships.c.builtin_role)
    )
    return {row[0]: int(row[1]) for row in (await s.execute(stmt)).all()}


async def get_role(s: AsyncSession, workspace_id: UUID, role_id: UUID) -> Row[Any] | None:
    stmt = select(roles).where(roles.c.workspace_id == workspace_id, roles.c.id == role_id)
    return (await s.execute(stmt)).first()


async def count_roles(s: AsyncSession, workspace_id: UUID) -> int:
    stmt = select(func.count()).where(roles.c.workspace_id == workspace_id)
    return int((await s.execute(stmt)).scalar_one())


async def role_named(s: AsyncSession, workspace_id: UUID, name: str) -> UUID | None:
    stmt = select(roles.c.id).where(
        roles.c.workspace_id == workspace_id, func.lower(roles.c.name) == name.lower()
    )
    return (await s.execute(stmt)).scalar_one_or_none()


async def insert_role(s: AsyncSession, **values: Any) -> Row[Any]:
    row = (await s.execute(insert(roles).values(**values).returning(*roles.c))).first()
    assert row is not None
    return row


async def update_role(s: AsyncSession, role_id: UUID, **values: Any) -> Row[Any]:
    stmt = (
        update(roles)
        .where(roles.c.id == role_id)
        .values(**values, updated_at=func.now())
        .returning(*roles.c)
    )
    row = (await s.execute(stmt)).first()
    assert row is not None
    return row


async def delete_role(s: AsyncSession, role_id: UUID) -> None:
    await s.execute(delete(roles).where(roles.c.id == role_id))


async def role_holders(s: AsyncSession, role_id: UUID) -> list[UUID]:
    stmt = select(memberships.c.user_id).where(memberships.c.role_id == role_id)
    return list((await s.execute(stmt)).scalars())


async def pending_invitations_with_role(s: AsyncSession, role_id: UUID, now: datetime) -> int:
    stmt = select(func.count()).where(invitations.c.role_id == role_id, _pending(now))
    return int((await s.execute(stmt)).scalar_one())


# ---------------------------------------------------------------------------- invitations


def _pending(now: datetime) -> ColumnElement[bool]:
    return and_(
        invitations.c.used_at.is_(None),
        invitations.c.revoked_at.is_(None),
        invitations.c.expires_at > now,
    )


async def insert_invitation(s: AsyncSession, **values: Any) -> Row[Any]:
    stmt = insert(invitations).values(**values).returning(*invitations.c)
    row = (await s.execute(stmt)).first()
    assert row is not None
    return row


async def pending_invitations(
    s: AsyncSession, workspace_id: UUID, now: datetime
) -> Sequence[Row[Any]]:
    stmt = (
        select(invitations)
        .where(invitations.c.workspace_id == workspace_id, _pending(now))
        .order_by(invitations.c.created_at, invitations.c.id)
    )
    return (await s.execute(stmt)).all()


async def revoke_invitation(
    s: AsyncSession, workspace_id: UUID, invitation_id: UUID, now: datetime
) -> bool:
    stmt = (
        update(invitations)
        .where(
            invitations.c.workspace_id == workspace_id,
            invitations.c.id == invitation_id,
            _pending(now),
        )
        .values(revoked_at=now)
        .returning(invitations.c.id)
    )
    return (await s.execute(stmt)).first() is not None


async def revoke_workspace_invitations(s: AsyncSession, workspace_id: UUID, now: datetime) -> None:
    await s.execute(
        update(invitations)
        .where(invitations.c.workspace_id == workspace_id, _pending(now))
        .values(revoked_at=now)
    )


async def find_invitation(s: AsyncSession, token_digest: bytes) -> Row[Any] | None:
    """The invitation with this digest, its workspace's state and name, its custom role's
    name (`role_name`) and its inviter's display name (`inviter_name`) (system scope)."""
    inviters = users.alias("inviters")
    stmt = (
        select(
            invitations,
            workspaces.c.state,
            workspaces.c.personal,
            workspaces.c.name.label("workspace_name"),
            roles.c.name.label("role_name"),
            inviters.c.display_name.label("inviter_name"),
        )
        .select_from(
            invitations.join(workspaces, workspaces.c.id == invitations.c.workspace_id)
            .outerjoin(roles, roles.c.id == invitations.c.role_id)
            .outerjoin(inviters, inviters.c.id == invitations.c.created_by)
        )
        .where(invitations.c.token_digest == token_digest)
    )
    return (await s.execute(stmt)).first()


async def use_invitation(
    s: AsyncSession, token_digest: bytes, user_id: UUID, now: datetime
) -> Row[Any] | None:
    """Mark a pending invitation used by `user_id`, atomically; None if it is not pending."""
    stmt = (
        update(invitations)
        .where(invitations.c.token_digest == token_digest, _pending(now))
        .values(used_at=now, used_by=user_id)
        .returning(*invitations.c)
    )
    return (await s.execute(stmt)).first()
