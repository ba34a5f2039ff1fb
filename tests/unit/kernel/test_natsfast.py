"""The nats-py adapter: it knows what the installed nats-py offers and says which path runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.metadata import version

import pytest
from nats.aio.client import Client as NATS

from services.bus import natsfast


@pytest.fixture(autouse=True)
def restore_path() -> Iterator[None]:
    yield
    natsfast.configure("auto")


def test_the_installed_nats_py_has_every_internal_the_fast_path_needs() -> None:
    # A skip here means the fast path never runs: its tests then test the fallback twice.
    missing = natsfast.missing_internals()
    if missing:
        pytest.skip(f"nats-py {version('nats-py')} lacks {', '.join(missing)}: public API only")
    assert natsfast.configure("auto") is True
    assert natsfast.fast_path() is True


def test_off_uses_the_public_api_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    natsfast.configure("auto")
    with caplog.at_level(logging.INFO, logger="services.bus.natsfast"):
        assert natsfast.configure("off") is False
        natsfast.configure("off")  # no second line for the same choice
    assert [r.getMessage() for r in caplog.records] == [
        "nats-py fast path off (BUS_FAST_PATH=off): public API only"
    ]
    assert natsfast.fast_path() is False


def test_a_nats_py_without_the_internals_falls_back_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    natsfast.configure("auto")
    monkeypatch.delattr(NATS, "_flush_pending")
    with caplog.at_level(logging.WARNING, logger="services.bus.natsfast"):
        assert natsfast.configure("auto") is False
    assert natsfast.fast_path() is False
    assert "Client._flush_pending" in caplog.text
    assert "public API only" in caplog.text
