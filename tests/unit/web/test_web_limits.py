"""The console's length limits (web/src/lib/fields.ts `LIMITS`, shown as counters before a
limit is hit) are the contracts' own: a limit changed on one side only would let the console
promise room the API refuses, or refuse what it would take."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from proto import auth as A
from proto import bots as B
from proto import commands as C
from proto import workspaces as W

ROOT = Path(__file__).resolve().parents[3]


def console_limits() -> dict[str, int]:
    source = (ROOT / "web" / "src" / "lib" / "fields.ts").read_text()
    block = source[source.index("export const LIMITS = {") :].split("}", 1)[0]
    return {k: int(v) for k, v in re.findall(r"(\w+): (\d+),", block)}


def max_length(model: type[BaseModel], field: str) -> int:
    def find(node: Any) -> int | None:
        if isinstance(node, dict):
            if "maxLength" in node:
                return int(node["maxLength"])
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                if (found := find(item)) is not None:
                    return found
        return None

    found = find(model.model_json_schema()["properties"][field])
    assert found is not None, f"{model.__name__}.{field} has no length limit"
    return found


def test_every_console_limit_is_the_contracts() -> None:
    api = {
        "botName": max_length(B.CreateBot, "name"),
        "botDescription": max_length(B.CreateBot, "description"),
        "activityText": max_length(B.BotPresence, "activity_text"),
        "promptName": max_length(C.PromptIn, "name"),
        "promptModel": max_length(C.PromptIn, "model"),
        "connectionName": max_length(C.ConnectionIn, "name"),
        "baseUrl": max_length(C.ConnectionIn, "base_url"),
        "commandName": max_length(C.CommandIn, "name"),
        "commandDescription": max_length(C.CommandIn, "description"),
        "commandTemplate": C.MAX_TEMPLATE,
        "workspaceName": max_length(W.CreateWorkspace, "name"),
        "roleName": max_length(W.CreateRole, "name"),
        "prefix": C.MAX_PREFIX_LENGTH,
        # Checked by auth-service on the folded name, not by a contract field.
        "tokenName": A.API_TOKEN_NAME_MAX,
    }
    assert console_limits() == api
