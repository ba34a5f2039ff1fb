"""The command line (options, SANDBOX_* variables, --set) and the container image's command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from discord_sandbox.cli import parse_args
from discord_sandbox.config import BucketLimit

DOCKERFILE = Path(__file__).resolve().parents[3] / "discord-sandbox" / "Dockerfile"


def test_defaults_are_discords_values() -> None:
    config = parse_args([], environ={})
    assert (config.host, config.port, config.tls) == ("127.0.0.1", 8790, False)
    assert config.tunables.heartbeat_interval_ms == 41_250
    assert config.tunables.identify_window_s == 5.0
    assert config.state_file is None


def test_environment_fills_in_and_the_command_line_wins() -> None:
    environ = {
        "SANDBOX_PORT": "0",
        "SANDBOX_TLS": "1",
        "SANDBOX_STATE": "/tmp/state.json",
        "SANDBOX_HEARTBEAT_INTERVAL_MS": "1000",
        "SANDBOX_SET": 'resume_window_s=30 \'webhook_limit={"limit": 2, "window_s": 1}\'',
    }
    config = parse_args(["--port", "9000", "--set", "resume_window_s=5"], environ=environ)
    assert config.port == 9000
    assert config.tls is True
    assert config.state_file == Path("/tmp/state.json")
    assert config.tunables.heartbeat_interval_ms == 1000
    assert config.tunables.resume_window_s == 5.0  # the command line's --set came last
    assert config.tunables.webhook_limit == BucketLimit(2, 1.0)


@pytest.mark.parametrize(
    "argv",
    [["--set", "no_such_setting=1"], ["--set", "justaname"], ["--identify-limit-mode", "x"]],
)
def test_bad_options_stop_with_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(argv, environ={})
    assert stopped.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_container_command_is_a_valid_command_line() -> None:
    text = DOCKERFILE.read_text()
    entrypoint = json.loads(
        re.search(r"^ENTRYPOINT (\[.*?\])$", text, re.M | re.S).group(1).replace("\\\n", "")  # type: ignore[union-attr]
    )
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    assert entrypoint[:3] == ["python", "-m", "discord_sandbox"]
    config = parse_args(entrypoint[3:] + cmd, environ={})
    assert config.host == "0.0.0.0"  # reachable from outside the container
    assert config.base_url(8790) == "http://127.0.0.1:8790"  # what clients are told
    assert config.state_file is not None
    assert str(config.state_file).startswith("/data/")  # the volume
    healthcheck = re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", text, re.M)
    assert healthcheck is not None
    assert json.loads(healthcheck.group(1))[:3] == ["python", "-m", "discord_sandbox.healthcheck"]
