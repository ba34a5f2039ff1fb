"""A contract module's SPECS come from the specs it binds to names, so none is left out."""

from __future__ import annotations

from proto import audit, auth, bots, commands, fleet, logs, storage, workspaces
from proto.base import Empty
from proto.registry import KvSpec, declared_specs, rpc


def test_declared_specs_keeps_definition_order_and_skips_everything_else() -> None:
    first = rpc("rpc.bot.first", Empty, Empty, callers=[])
    bucket = KvSpec("bucket", frozenset({"bot"}))
    second = rpc("rpc.bot.second", Empty, Empty, callers=[])
    namespace = {"FIRST": first, "NAME": "rpc.bot.x", "BUCKET": bucket, "SECOND": second}
    assert declared_specs(namespace) == [first, bucket, second]


def test_every_spec_a_contract_module_names_is_in_its_specs() -> None:
    for module in (audit, auth, bots, commands, fleet, logs, storage, workspaces):
        for spec in declared_specs(vars(module)):
            assert spec in module.SPECS, (module.__name__, spec)
