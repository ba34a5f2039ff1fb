"""Every RPC a service serves in the contracts has a handler that answers it.

Handlers say which subject they answer (`@answers(SPEC)`); a contract added without
marking its handler would never be registered, and callers would get "no responders"."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from proto import REGISTRY
from services.bus.rpc import answered_by

# Answered outside handlers.py: the kernel's `rpc.<service>.status`, and bot-service's
# fleet engine (live shards), which registers its own subjects.
ELSEWHERE = {
    "rpc.bot.avatar.apply",
    "rpc.bot.runtime.act",
    "rpc.bot.runtime.context",
    "rpc.bot.runtime.guilds",
    "rpc.bot.runtime.message",
    "rpc.bot.runtime.presence",
    "rpc.bot.runtime.shards",
    "rpc.bot.runtime.status",
    "rpc.bot.runtime.sync_commands",
}


class _Anything:
    """Stands in for a handlers object when reading a routing table."""

    def __getattr__(self, name: str) -> Any:
        return self


def _answered(package: str) -> set[str]:
    handlers = importlib.import_module(f"{package}.handlers")
    subjects = {
        spec.subject
        for _, cls in inspect.getmembers(handlers, inspect.isclass)
        if cls.__module__ == handlers.__name__
        for spec in answered_by(cls)
    }
    # command-service's prompt and connection handlers share one class, so their specs
    # are given by a table in app.py.
    app = importlib.import_module(f"{package}.app")
    if hasattr(app, "_routes"):
        subjects |= {spec.subject for spec, _ in app._routes(_Anything())}
    return subjects


@pytest.mark.parametrize("service", ["auth", "bot", "command", "storage", "log"])
def test_every_served_rpc_has_a_handler(service: str) -> None:
    served = {spec.subject for spec in REGISTRY.served_by(service)}
    expected = served - ELSEWHERE - {f"rpc.{service}.status"}
    assert expected - _answered(f"{service}_service") == set()
