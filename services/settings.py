"""Settings from the environment (pydantic-settings): shared ones and one prefix per service.

Shared variables have fixed names (`NATS_URL`, `DATABASE_URL`, ...); a service's own
variables carry its prefix (`BOT_`, `AUTH_`, ...). In development, missing secrets are
generated once into the data folder and reused; in production a missing secret stops
the process with a message naming the variable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class MissingSecretError(RuntimeError):
    """A secret is missing or left at a default value in production."""


# Values that appear in examples and templates: accepted nowhere in production.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "example"})


def require_secret(name: str, value: str | None, production: bool) -> str | None:
    """The secret's value, or None in development; production refuses missing/placeholder."""
    if value is not None and value.strip().lower() not in PLACEHOLDER_SECRETS:
        return value
    if production:
        state = "is missing" if value is None else "is left at a placeholder value"
        raise MissingSecretError(f"{name} {state}; set it in production (see README)")
    return None


class KernelSettings(BaseSettings):
    """Variables every process reads, without prefix."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    mode: Mode = Field(
        Mode.DEVELOPMENT,
        validation_alias="BOTCENTER_MODE",
        description="`development` generates missing secrets into the data folder; "
        "`production` refuses to start without them",
    )
    data_dir: Path = Field(
        Path(".botcenter"),
        validation_alias="BOTCENTER_DATA_DIR",
        description="local data: embedded PostgreSQL and NATS, development secrets, logs, files",
    )
    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        validation_alias="NATS_URL",
        description="NATS server (JetStream enabled); `make run` starts an embedded one if unset",
    )
    nats_stream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        validation_alias="NATS_STREAM_REPLICAS",
        description="replicas of the EVENTS stream and every KV bucket (3 on a NATS cluster)",
    )
    database_url: str | None = Field(
        None,
        validation_alias="DATABASE_URL",
        description="PostgreSQL admin/owner URL for migrations; services log in as their own "
        "role `bc_<service>` on the same server",
    )
    s3_url: str | None = Field(
        None,
        validation_alias="S3_URL",
        description="S3/MinIO endpoint (`http://key:secret@host:port/bucket`); "
        "files go to the local data folder if unset",
    )
    db_role_password: SecretStr | None = Field(
        None,
        validation_alias="DB_ROLE_PASSWORD",
        description="password of the per-service database roles (secret)",
    )
    vault_keys: SecretStr | None = Field(
        None,
        validation_alias="VAULT_KEYS",
        description="AES-256-GCM master keys `id:base64,id:base64`; the highest id encrypts "
        "(secret; `botcenter keys generate`)",
    )
    bus_fast_path: Literal["auto", "off"] = Field(
        "auto",
        validation_alias="BUS_FAST_PATH",
        description="`auto` takes NATS messages straight from nats-py's read loop and acks "
        "batches in one write when the installed nats-py allows it (the log says which path "
        "runs); `off` uses nats-py's public API only",
    )
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL", description="log level")
    log_format: str = Field(
        "json", validation_alias="LOG_FORMAT", description="`json` (one object per line) or `text`"
    )
    otlp_endpoint: str | None = Field(
        None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/HTTP collector for traces; no spans are built when unset",
    )
    # Every Discord URL derives from these, so production talks to discord.com and
    # development and tests to the discord-sandbox by settings alone.
    discord_base_url: str = Field(
        "https://discord.com",
        validation_alias="DISCORD_BASE_URL",
        description="Discord (REST under /api/v10, OAuth2); `make run` points it at the "
        "discord-sandbox",
    )
    google_issuer: str = Field(
        "https://accounts.google.com",
        validation_alias="GOOGLE_ISSUER",
        description="OpenID Connect issuer for Google sign-in (the sandbox's `/google` locally)",
    )

    @property
    def discord_api_url(self) -> str:
        return self.discord_base_url.rstrip("/") + "/api/v10"

    @property
    def production(self) -> bool:
        return self.mode is Mode.PRODUCTION


class ServiceSettings(KernelSettings):
    """Base of each service's settings; subclasses set `env_prefix` and `service_name`."""

    service_name: ClassVar[str] = ""

    http_host: str = Field("127.0.0.1", description="address of the HTTP server (health, metrics)")
    http_port: int = Field(0, description="its port; 0 picks a free one")
    nats_user: str | None = Field(None, description="NATS user of this service")
    nats_password: SecretStr | None = Field(None, description="its NATS password (secret)")
    rpc_concurrency: int = Field(256, ge=1, le=10_000, description="RPCs handled at once")
    rpc_timeout_s: float = Field(10.0, gt=0, le=300, description="deadline of one RPC")
    db_pool_size: int = Field(
        20,
        ge=1,
        le=500,
        description="database connections kept open; busier moments open overflow ones, "
        "closed again when returned (size this to the usual concurrency: churn costs a connect)",
    )
    db_pool_overflow: int = Field(
        10, ge=0, le=500, description="extra database connections allowed above the pool size"
    )
    drain_timeout_s: float = Field(
        20.0, gt=0, le=600, description="on SIGTERM, how long to finish work in flight"
    )
    # Slow clients (services.http_timeouts): each cut is a 408 and a closed connection.
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="a request's headers must be complete this many seconds after the "
        "connection opens or the request's first byte arrives (else 408 and close)",
    )
    body_timeout_s: float = Field(
        15.0,
        gt=0,
        le=300,
        description="longest wait for the next bytes of a request body, and how long a client "
        "answered early may go on sending one (else 408 and close)",
    )
    body_min_rate: float = Field(
        500.0,
        ge=0,
        description="bytes/s a request body must average over the time it is waited for, after "
        "a first <P>BODY_TIMEOUT_S of grace (0 = no minimum)",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve /metrics on this port only (for an in-cluster scraper), not on the "
        "HTTP port; unset = on the HTTP port",
    )
    instance: str = Field(
        default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}",
        description="replica name in status, metrics and logs (host-pid by default)",
    )

    def role_name(self) -> str:
        return f"bc_{self.service_name}"

    def db_url(self) -> str | None:
        """This service's own database URL (its role, never a superuser).

        `<PREFIX>DATABASE_URL` wins; otherwise `DATABASE_URL` with the user switched to
        the service role and `DB_ROLE_PASSWORD` as password.
        """
        override = os.environ.get(f"{self.model_config.get('env_prefix', '')}DATABASE_URL")
        if override:
            return override
        if not self.database_url:
            return None
        password = require_secret(
            "DB_ROLE_PASSWORD",
            self.db_role_password.get_secret_value() if self.db_role_password else None,
            self.production,
        )
        if password is None:
            password = dev_secrets(self.data_dir)["db_role_password"]
        return with_credentials(self.database_url, self.role_name(), password)

    def vault_keyring(self) -> str:
        keys = require_secret(
            "VAULT_KEYS",
            self.vault_keys.get_secret_value() if self.vault_keys else None,
            self.production,
        )
        return keys if keys is not None else str(dev_secrets(self.data_dir)["vault_keys"])


def with_credentials(url: str, user: str, password: str) -> str:
    """The same server URL with another user and password."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user)}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _new_key_b64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def dev_secrets(data_dir: Path) -> dict[str, Any]:
    """Development secrets, generated on first use into `<data_dir>/secrets.json` (0600).

    Additional keys may be added later by other parts (e.g. JWT signing keys); existing
    values are never regenerated, so restarting keeps sessions and encrypted data valid.
    """
    path = data_dir / "secrets.json"
    data: dict[str, Any] = {}
    if path.exists():
        data = json.loads(path.read_text())
    changed = False
    defaults: dict[str, Any] = {
        "db_role_password": secrets.token_urlsafe(24),
        "vault_keys": f"1:{_new_key_b64()}",
        "nats_passwords": {},
    }
    for key, value in defaults.items():
        if key not in data:
            data[key] = value
            changed = True
    if changed:
        store_dev_secrets(data_dir, data)
    return data


def store_dev_secrets(data_dir: Path, data: dict[str, Any]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secrets.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
