"""auth-service tables (schema `auth`, reached through the role's search_path).

The migrations create the schema; these classes describe it column for column (types,
nullability, keys, indexes, server defaults) and a test compares the two. Row-level
security policies live only in the migrations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy import String as Varchar
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.outbox import outbox_model

_NOW = text("now()")


def _timestamp(*, nullable: bool, server_default: Any = None) -> Any:
    """A `timestamptz` column (SQLModel would map `datetime` to one without a zone)."""
    return Field(
        sa_column=Column(DateTime(timezone=True), nullable=nullable, server_default=server_default)
    )


def _owner() -> Any:
    """`owner_id`: the user a row belongs to (row-level security compares it)."""
    return Field(sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False))


class AuthTable(SQLModel, registry=registry()):
    """Base of auth-service's tables. A registry of its own gives the service a MetaData of
    its own (SQLModel's default is one global MetaData shared by every importer), so
    Alembic and the schema test see exactly this service's tables."""

    # Set by SQLAlchemy on each table class; declared for the type checker.
    __table__: ClassVar[Table]


metadata = AuthTable.metadata


class User(AuthTable, table=True):
    __tablename__ = "users"

    id: UUID = Field(primary_key=True)
    # Equal to `id`, so that every user-owned table has the same row-level security policy.
    owner_id: UUID = Field(sa_column=Column(Uuid, Computed("id", persisted=True), nullable=False))
    display_name: str = Field(sa_type=Text, nullable=False)
    email: str | None = Field(default=None, sa_type=Text)
    avatar_url: str | None = Field(default=None, sa_type=Text)
    settings: dict[str, Any] = Field(
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    )
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    updated_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    # Grows with every change to this user's memberships (0005): caches of the user's
    # access refuse a snapshot older than the version an AccessChanged event named.
    access_version: int = Field(
        sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )


class Identity(AuthTable, table=True):
    """One provider account (Discord, Google) signed in as a user; one per provider."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="identities_provider_subject"),
        UniqueConstraint("owner_id", "provider", name="identities_one_per_provider"),
    )

    id: UUID = Field(primary_key=True)
    owner_id: UUID = _owner()
    provider: str = Field(sa_type=Text, nullable=False)
    subject: str = Field(sa_type=Text, nullable=False)
    email: str | None = Field(default=None, sa_type=Text)
    display_name: str | None = Field(default=None, sa_type=Text)
    avatar_url: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    updated_at: datetime = _timestamp(nullable=False, server_default=_NOW)


class LoginFlow(AuthTable, table=True):
    """An OAuth sign-in between its redirect and its callback (good for one callback)."""

    __tablename__ = "login_flows"

    state: str = Field(sa_type=Text, primary_key=True)
    provider: str = Field(sa_type=Text, nullable=False)
    code_verifier: str = Field(sa_type=Text, nullable=False)
    nonce: str | None = Field(default=None, sa_type=Text)
    redirect_uri: str = Field(sa_type=Text, nullable=False)
    next_path: str = Field(sa_type=Text, nullable=False)
    mode: str = Field(sa_type=Text, nullable=False)
    link_user_id: UUID | None = Field(default=None, sa_type=Uuid)
    expires_at: datetime = _timestamp(nullable=False)


class RefreshToken(AuthTable, table=True):
    """A refresh token (its hash); a family is one sign-in's chain of rotations."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="refresh_tokens_token_hash_key"),
        Index("refresh_tokens_family", "family_id"),
        Index("refresh_tokens_owner", "owner_id"),
    )

    id: UUID = Field(primary_key=True)
    owner_id: UUID = _owner()
    family_id: UUID = Field(sa_type=Uuid, nullable=False)
    token_hash: str = Field(sa_type=Text, nullable=False)
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    expires_at: datetime = _timestamp(nullable=False)
    used_at: datetime | None = _timestamp(nullable=True)
    revoked_at: datetime | None = _timestamp(nullable=True)


class ApiToken(AuthTable, table=True):
    """A personal API token (its hash and last four characters)."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="api_tokens_token_hash_key"),
        Index("api_tokens_owner", "owner_id"),
    )

    id: UUID = Field(primary_key=True)
    owner_id: UUID = _owner()
    name: str = Field(sa_type=Text, nullable=False)
    token_hash: str = Field(sa_type=Text, nullable=False)
    last4: str = Field(sa_type=Text, nullable=False)
    scopes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    last_used_at: datetime | None = _timestamp(nullable=True)
    expires_at: datetime | None = _timestamp(nullable=True)
    revoked_at: datetime | None = _timestamp(nullable=True)
    # The token's ceiling (0006): one workspace and a subset of the permissions; null =
    # every workspace of the owner, all of the owner's permissions (older tokens).
    workspace_id: UUID | None = Field(default=None, sa_type=Uuid, nullable=True)
    permissions: list[str] | None = Field(
        default=None, sa_column=Column(ARRAY(Text), nullable=True)
    )


class SigningKey(AuthTable, table=True):
    """A JWT signing key (private key as vault ciphertext, public part as a JWK)."""

    __tablename__ = "signing_keys"

    kid: str = Field(sa_type=Text, primary_key=True)
    alg: str = Field(sa_type=Text, nullable=False)
    private_key: bytes = Field(sa_type=LargeBinary, nullable=False)
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    # Signs from this time on; published in the JWKS from `created_at` (0003).
    active_from: datetime = _timestamp(nullable=False, server_default=_NOW)
    # Retired at once (compromised): never loaded, published or used again (0004).
    retired_at: datetime | None = _timestamp(nullable=True)


class PendingPurge(AuthTable, table=True):
    """A service that has still to delete a deleted user's or workspace's data (retried
    until it has): `kind` 'user' or 'workspace', `target_id` its id (0006)."""

    __tablename__ = "pending_purges"

    kind: str = Field(
        sa_column=Column(Text, primary_key=True, nullable=False, server_default=text("'user'"))
    )
    target_id: UUID = Field(sa_type=Uuid, primary_key=True)
    service: str = Field(sa_type=Text, primary_key=True)
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    attempts: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("0")))
    last_error: str | None = Field(default=None, sa_type=Text)


# ------------------------------------------------------------------ teams (0005)


def _workspace_fk() -> Any:
    return Field(
        sa_column=Column(
            Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        )
    )


_NO_BOTS = text("'{}'::uuid[]")


class Workspace(AuthTable, table=True):
    """A workspace: every user's personal one (id = the user's id) and team workspaces."""

    __tablename__ = "workspaces"
    __table_args__ = (
        Index(
            "workspaces_one_personal",
            "owner_user_id",
            unique=True,
            postgresql_where=text("personal"),
        ),
    )

    id: UUID = Field(primary_key=True)
    name: str = Field(sa_column=Column(Varchar(100), nullable=False))
    personal: bool = Field(
        sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    owner_user_id: UUID = Field(
        sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    avatar_file_id: UUID | None = Field(default=None, sa_type=Uuid)
    audit_retention_days: int = Field(
        sa_column=Column(Integer, nullable=False, server_default=text("365"))
    )
    state: str = Field(sa_column=Column(Text, nullable=False, server_default=text("'active'")))
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    updated_at: datetime = _timestamp(nullable=False, server_default=_NOW)


class Role(AuthTable, table=True):
    """A workspace's custom role: a name and a subset of the permissions."""

    __tablename__ = "roles"
    __table_args__ = (
        Index("roles_workspace_name", "workspace_id", func.lower(text("name")), unique=True),
    )

    id: UUID = Field(primary_key=True)
    workspace_id: UUID = _workspace_fk()
    name: str = Field(sa_column=Column(Varchar(50), nullable=False))
    permissions: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    updated_at: datetime = _timestamp(nullable=False, server_default=_NOW)


class Membership(AuthTable, table=True):
    """A user in a workspace with a built-in role or a custom one, maybe limited to bots."""

    __tablename__ = "memberships"
    __table_args__ = (
        Index(
            "memberships_one_owner",
            "workspace_id",
            unique=True,
            postgresql_where=text("builtin_role = 'owner'"),
        ),
        Index("memberships_user", "user_id"),
        Index("memberships_role", "role_id"),
    )

    workspace_id: UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: UUID = Field(
        sa_column=Column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    builtin_role: str | None = Field(default=None, sa_type=Text)
    role_id: UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("roles.id"), nullable=True)
    )
    bot_ids: list[UUID] = Field(
        sa_column=Column(ARRAY(Uuid), nullable=False, server_default=_NO_BOTS)
    )
    invited_by: UUID | None = Field(default=None, sa_type=Uuid)
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)


class Invitation(AuthTable, table=True):
    """A single-use invitation link (its token's SHA-256 only)."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("token_digest", name="invitations_token_digest_key"),
        Index("invitations_workspace", "workspace_id"),
    )

    id: UUID = Field(primary_key=True)
    workspace_id: UUID = _workspace_fk()
    token_digest: bytes = Field(sa_type=LargeBinary, nullable=False)
    builtin_role: str | None = Field(default=None, sa_type=Text)
    role_id: UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("roles.id", ondelete="CASCADE"), nullable=True),
    )
    bot_ids: list[UUID] = Field(
        sa_column=Column(ARRAY(Uuid), nullable=False, server_default=_NO_BOTS)
    )
    email: str | None = Field(default=None, sa_type=Text)
    created_by: UUID = Field(sa_type=Uuid, nullable=False)
    created_at: datetime = _timestamp(nullable=False, server_default=_NOW)
    expires_at: datetime = _timestamp(nullable=False)
    used_at: datetime | None = _timestamp(nullable=True)
    used_by: UUID | None = Field(default=None, sa_type=Uuid)
    revoked_at: datetime | None = _timestamp(nullable=True)


# AccessChanged events on their way to JetStream (services/outbox.py, 0005).
outbox = outbox_model(metadata)
