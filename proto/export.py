"""Generates `proto/schema/*.json` (JSON Schema per contract) and `proto/asyncapi.yaml`
(AsyncAPI 3.0) from the registry. `make schema` writes them; a test fails on drift."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from proto.base import Contract
from proto.catalog import REGISTRY
from proto.registry import Registry
from proto.workspaces import HTTP_MODELS

HERE = Path(__file__).parent
SCHEMA_DIR = HERE / "schema"
ASYNCAPI = HERE / "asyncapi.yaml"
VERSION = "0.1.0"


def _models(registry: Registry) -> dict[str, type[Contract]]:
    found: dict[str, type[Contract]] = {}
    candidates: list[type[Contract]] = []
    for spec in [*registry.rpcs.values(), *registry.planned.values()]:
        candidates += [spec.request, spec.reply]
    candidates += [e.model for e in registry.events.values()]
    candidates += [c.model for c in registry.core.values()]
    for model in candidates:
        name = model.__name__
        if name in found and found[name] is not model:
            raise ValueError(f"two contracts are named {name}: rename one")
        found[name] = model
    return dict(sorted(found.items()))


def json_schemas(registry: Registry = REGISTRY) -> dict[str, dict[str, Any]]:
    models = {**_models(registry), **{m.__name__: m for m in HTTP_MODELS}}
    return {
        name: model.model_json_schema(ref_template="#/$defs/{model}")
        for name, model in sorted(models.items())
    }


def _channel_id(address: str) -> str:
    return address.replace(".", "_").replace("*", "any").replace(">", "all")


def _send_channel(
    cid: str,
    address: str,
    description: str,
    model: type[Contract],
    message: str,
    publishers: Iterable[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A subject that carries one kind of message, sent by its publishers (an event family or
    a core subject): its AsyncAPI channel and its `send` operation."""
    channel = {
        "address": address,
        "description": description,
        "messages": {message: {"$ref": f"#/components/messages/{model.__name__}"}},
    }
    operation = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{cid}"},
        "messages": [{"$ref": f"#/channels/{cid}/messages/{message}"}],
        "x-publishers": sorted(publishers),
    }
    return channel, operation


def asyncapi(registry: Registry = REGISTRY) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name, model in _models(registry).items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(def_name, definition)
        schemas[name] = schema
    messages = {name: {"name": name, "payload": {"$ref": f"#/components/schemas/{name}"}}
                for name in _models(registry)}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for subject, spec in sorted({**registry.rpcs, **registry.planned}.items()):
        cid = _channel_id(subject)
        channels[cid] = {
            "address": subject,
            "description": spec.summary,
            "messages": {
                "request": {"$ref": f"#/components/messages/{spec.request.__name__}"},
                "reply": {"$ref": f"#/components/messages/{spec.reply.__name__}"},
            },
        }
        operations[cid] = {
            "action": "receive",
            "summary": spec.summary,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/request"}],
            "reply": {"messages": [{"$ref": f"#/channels/{cid}/messages/reply"}]},
            "x-served-by": spec.service,
            "x-callers": sorted(spec.callers),
            "x-raw-body": spec.raw_body,
        }
        if spec.planned:
            # The contract is agreed; no service answers it yet.
            operations[cid]["x-planned"] = True
    for pattern, event in sorted(registry.events.items()):
        cid = _channel_id(pattern)
        channels[cid], operations[f"publish_{cid}"] = _send_channel(
            cid,
            pattern,
            event.summary or f"JetStream EVENTS: {event.model.__name__}",
            event.model,
            "event",
            event.publishers,
        )
    for pattern, core in sorted(registry.core.items()):
        cid = _channel_id(pattern)
        channels[cid], operations[f"send_{cid}"] = _send_channel(
            cid, pattern, core.summary, core.model, "message", core.publishers
        )
        operations[f"send_{cid}"]["x-subscribers"] = sorted(core.subscribers)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "botcenter bus",
            "version": VERSION,
            "description": "NATS subjects of botcenter. Generated from proto/registry; "
            "do not edit by hand (make schema).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.items())), "messages": messages},
    }


def render() -> dict[str, str]:
    """Every generated file: relative path -> text."""
    files = {
        f"schema/{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, width=100)
    return files


def write() -> list[str]:
    files = render()
    SCHEMA_DIR.mkdir(exist_ok=True)
    for stale in SCHEMA_DIR.glob("*.json"):
        if f"schema/{stale.name}" not in files:
            stale.unlink()
    for rel, text in files.items():
        (HERE / rel).write_text(text)
    return sorted(files)


def drift() -> list[str]:
    """Generated files that differ from the code (missing, changed or stale)."""
    files = render()
    problems = [rel for rel, text in files.items()
                if not (HERE / rel).exists() or (HERE / rel).read_text() != text]
    problems += [f"schema/{p.name} (stale)" for p in SCHEMA_DIR.glob("*.json")
                 if f"schema/{p.name}" not in files]
    return sorted(problems)


if __name__ == "__main__":
    written = write()
    print(f"wrote {len(written)} files under {HERE}", file=sys.stderr)
