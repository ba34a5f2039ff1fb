"""auth-service tables (SQLAlchemy Core). The schema itself comes from the migrations."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("email", Text),
    Column("avatar_url", Text),
    Column("settings", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("provider", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("email", Text),
    Column("display_name", Text),
    Column("avatar_url", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

login_flows = Table(
    "login_flows",
    metadata,
    Column("state", Text, primary_key=True),
    Column("provider", Text, nullable=False),
    Column("code_verifier", Text, nullable=False),
    Column("nonce", Text),
    Column("redirect_uri", Text, nullable=False),
    Column("next_path", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("link_user_id", Uuid),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("family_id", Uuid, nullable=False),
    Column("token_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("token_hash", Text, nullable=False),
    Column("last4", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("alg", Text, nullable=False),
    Column("private_key", LargeBinary, nullable=False),
    Column("public_jwk", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Signs from this time on; published in the JWKS from `created_at` (0003).
    Column("active_from", DateTime(timezone=True), nullable=False),
    # Retired at once (compromised): never loaded, published or used again (0004).
    Column("retired_at", DateTime(timezone=True), nullable=True),
)

pending_purges = Table(
    "pending_purges",
    metadata,
    Column("owner_id", Uuid, primary_key=True),
    Column("service", Text, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
)
