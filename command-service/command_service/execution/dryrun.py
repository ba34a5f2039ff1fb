"""`POST …/automations/{id}/test` (#18): a dry run — the same step engine on a sample (or
given) event, with effects that do nothing but say what they would do. Nothing is sent to
Discord or to an API, and no variable is written (later steps still see what a write
would have made)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from command_service.execution.steps import RunContext, VariableChange
from proto.automations import (
    ActResult,
    AiStep,
    HttpStep,
    TriggerType,
    variables_for,
)

_SAMPLE_MESSAGE_ID = "41771983423143941"


def _value(example: str) -> Any:
    if example in ("True", "False"):
        return example == "True"
    # Lists and small numbers are values; ids (long digit strings) stay strings.
    if example.startswith("[") or (example.isdigit() and len(example) < 15):
        return ast.literal_eval(example)
    if "." in example and example.replace(".", "", 1).isdigit():
        return float(example)
    return example


def sample_values(trigger: TriggerType) -> dict[str, Any]:
    """What a run of this trigger would see, from the examples of its variables."""
    values: dict[str, Any] = {}
    for var in variables_for(trigger):
        if not var.example or var.path.endswith(".NAME"):
            continue
        *parents, leaf = var.path.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _value(var.example)
    return values


def _merge(base: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in given.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def dry_context(
    trigger: TriggerType,
    given: Mapping[str, Any] | None = None,
    *,
    vars: Mapping[str, Any] | None = None,
    default_channel_id: str | None = None,
) -> RunContext:
    """A sample event of `trigger` (with `given` laid over it), now's time."""
    values = _merge(sample_values(trigger), given or {})
    values["now"] = datetime.now(UTC).isoformat()
    interaction = "41771983423143942" if trigger == "button" else None
    return RunContext(
        values=values,
        vars=dict(vars or {}),
        interaction_id=interaction,
        default_channel_id=default_channel_id,
    )


class DryEffects:
    """Effects of a dry run: nothing leaves; outputs are placeholders later steps can read,
    and variables change only in the run's own context."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def discord(
        self, key: str, action: str, params: dict[str, Any], interaction_id: str | None
    ) -> ActResult:
        output: dict[str, Any] = {}
        if action in ("send_message", "reply"):
            output = {"message_id": _SAMPLE_MESSAGE_ID, "channel_id": params.get("channel_id")}
        return ActResult(ok=True, output=output)

    async def http(self, key: str, step: HttpStep, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": 200, "data": {}, "text": ""}

    async def ai(self, key: str, step: AiStep, variables: dict[str, str]) -> dict[str, Any]:
        return {"text": "(the AI's answer)"}

    async def variable(self, key: str, change: VariableChange) -> Any:
        if change.op == "delete":
            return None
        if change.op == "set":
            return change.value
        where = change.where
        known = self.ctx.vars if where.user_id is None else self.ctx.user_vars
        current = known.get(where.key, 0)
        return (current if isinstance(current, int | float) else 0) + change.value
