"""Secrets: generated once and reused in development; in production a missing or
placeholder secret stops the service at start with a message naming the variable."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from services.settings import MissingSecretError, ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", populate_by_name=True)
    service_name = "demo"


def test_development_generates_secrets_once_and_reuses_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VAULT_KEYS", raising=False)
    monkeypatch.delenv("DB_ROLE_PASSWORD", raising=False)
    monkeypatch.setenv("BOTCENTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://admin:x@127.0.0.1:5432/botcenter")
    first = DemoSettings()
    keys, url = first.vault_keyring(), first.db_url()
    again = DemoSettings()
    assert again.vault_keyring() == keys
    assert again.db_url() == url
    assert url is not None
    assert url.startswith("postgresql://bc_demo:")
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("value", [None, "changeme", ""])
def test_production_refuses_missing_or_placeholder_vault_keys(monkeypatch, value) -> None:
    monkeypatch.setenv("BOTCENTER_MODE", "production")
    if value is None:
        monkeypatch.delenv("VAULT_KEYS", raising=False)
    else:
        monkeypatch.setenv("VAULT_KEYS", value)
    with pytest.raises(MissingSecretError, match="VAULT_KEYS"):
        DemoSettings().vault_keyring()


def test_a_production_service_stops_at_start_naming_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DB_ROLE_PASSWORD", "VAULT_KEYS")}
    env.update(
        BOTCENTER_MODE="production",
        BOTCENTER_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgresql://admin:x@127.0.0.1:1/botcenter",
        NATS_URL="nats://127.0.0.1:1",
    )
    botcenter = Path(sys.executable).parent / "botcenter"
    done = subprocess.run(
        [str(botcenter), "service", "bot"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "DB_ROLE_PASSWORD" in done.stderr or "VAULT_KEYS" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "secrets.json").exists(), "production never writes dev secrets"


def test_database_pools_are_sized_from_the_settings(tmp_path: Path, monkeypatch) -> None:
    from services.runner import open_database

    monkeypatch.setenv("BOTCENTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://admin:x@127.0.0.1:5432/botcenter")
    monkeypatch.setenv("DEMO_DB_POOL_SIZE", "32")
    monkeypatch.setenv("DEMO_DB_POOL_OVERFLOW", "4")
    db = open_database(DemoSettings())
    assert db.engine.pool.size() == 32  # type: ignore[attr-defined]
    assert db.engine.pool._max_overflow == 4  # type: ignore[attr-defined]
    monkeypatch.setenv("DEMO_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="db_pool_size"):
        DemoSettings()
