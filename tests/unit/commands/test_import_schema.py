"""The bot import schema (proto.commands.BotImport) and the command rules it shares with the API."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from proto.commands import BotImport, CommandIn, ConnectionIn, PromptIn


def _errors(model: type[Any], data: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {tuple(e["loc"]): e["msg"] for e in info.value.errors()}


def _slash(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "says hi",
        "response": {"type": "template", "content": "hi {{ user.username }}"},
        **extra,
    }


def test_a_full_export_shape_is_accepted() -> None:
    doc = BotImport.model_validate(
        {
            "version": 1,
            "prefix": "!",
            "commands": [
                _slash("hello", guild_ids=["123456789012345678"]),
                {
                    "kind": "prefix",
                    "name": "Ping",
                    "response": {"type": "template", "content": "pong"},
                },
                {
                    "kind": "user",
                    "name": "Say Hi",
                    "response": {"type": "template", "content": "x"},
                },
                {
                    "name": "weather",
                    "description": "weather",
                    "options": [
                        {"type": "string", "name": "city", "description": "c", "required": True},
                        {
                            "type": "integer",
                            "name": "days",
                            "description": "d",
                            "min_value": 1,
                            "max_value": 7,
                        },
                    ],
                    "response": {
                        "type": "http",
                        "connection": "wx",
                        "path": "/w",
                        "content": "{{ data.t }}",
                    },
                },
                {
                    "name": "ask",
                    "description": "ai",
                    "response": {"type": "ai", "connection": "llm", "prompt": "p"},
                },
            ],
            "prompts": [{"name": "p", "user": "{{ options.q }}", "model": "m"}],
            "connections": [
                {"name": "wx", "base_url": "https://api.example.com/v1/", "auth_type": "bearer"},
                {
                    "name": "llm",
                    "base_url": "https://llm.example.com/v1",
                    "secret_headers": ["X-Key"],
                },
            ],
        }
    )
    assert doc.connections[0].base_url == "https://api.example.com/v1"
    assert [c.kind for c in doc.commands] == ["slash", "prefix", "user", "slash", "slash"]


def test_secret_values_are_refused_in_an_import() -> None:
    errors = _errors(
        BotImport,
        {
            "connections": [
                {"name": "c", "base_url": "https://x.io", "auth_type": "bearer", "secret": "s3cr3t"}
            ]
        },
    )
    assert ("connections", 0, "secret") in errors


def test_discord_name_and_description_rules_point_at_the_field() -> None:
    errors = _errors(
        BotImport,
        {
            "commands": [
                _slash("Hello"),
                _slash("has space"),
                _slash("x" * 33),
                {"name": "nodesc", "response": {"type": "template", "content": "x"}},
                {
                    "kind": "message",
                    "name": "Quote",
                    "description": "no",
                    "response": {"type": "template", "content": "x"},
                },
                _slash("d", description="y" * 101),
            ]
        },
    )
    assert "lowercase" in errors[("commands", 0, "name")]
    assert ("commands", 1, "name") in errors
    assert ("commands", 2, "name") in errors
    assert "description" in errors[("commands", 3, "description")]
    assert "context menu" in errors[("commands", 4, "description")]
    assert ("commands", 5, "description") in errors


def test_option_rules() -> None:
    opt = {"type": "string", "description": "d"}
    errors = _errors(
        CommandIn,
        _slash(
            "opts",
            options=[
                {**opt, "name": "a"},
                {**opt, "name": "a"},
                {**opt, "name": "b", "required": True},
                {
                    "type": "boolean",
                    "name": "c",
                    "description": "d",
                    "choices": [{"name": "x", "value": "x"}],
                },
                {**opt, "name": "e", "choices": [{"name": "one", "value": 1}]},
                {
                    "type": "integer",
                    "name": "f",
                    "description": "d",
                    "min_value": 5,
                    "max_value": 1,
                },
                {**opt, "name": "g", "min_value": 1},
            ],
        ),
    )
    assert ("options", 3, "choices") in errors
    assert ("options", 4, "choices", 0, "value") in errors
    assert ("options", 5, "max_value") in errors
    assert ("options", 6, "min_value") in errors
    # with the per-option errors fixed, the ordering and uniqueness rules show
    errors = _errors(
        CommandIn,
        _slash("opts", options=[{**opt, "name": "a"}, {**opt, "name": "a", "required": True}]),
    )
    assert "twice" in errors[("options", 1, "name")]
    assert "before" in errors[("options", 1, "required")]


def test_at_most_25_options_and_choices() -> None:
    opts = [{"type": "string", "name": f"o{i}", "description": "d"} for i in range(26)]
    assert ("options",) in _errors(CommandIn, _slash("many", options=opts))
    choices = [{"name": f"c{i}", "value": f"c{i}"} for i in range(26)]
    errors = _errors(
        CommandIn,
        _slash(
            "many",
            options=[{"type": "string", "name": "o", "description": "d", "choices": choices}],
        ),
    )
    assert ("options", 0, "choices") in errors


def test_unique_names_per_scope_and_the_global_limit() -> None:
    guild = "123456789012345678"
    ok = BotImport.model_validate(
        {
            "commands": [
                _slash("a"),
                _slash("a", guild_ids=[guild]),
                {"kind": "user", "name": "a", "response": {"type": "template", "content": "x"}},
            ]
        }
    )
    assert len(ok.commands) == 3
    errors = _errors(
        BotImport, {"commands": [_slash("a", guild_ids=[guild]), _slash("a", guild_ids=[guild])]}
    )
    assert "already exists in guild" in errors[("commands", 1, "name")]
    errors = _errors(BotImport, {"commands": [_slash(f"c{i}") for i in range(101)]})
    assert "at most 100" in errors[("commands", 100, "kind")]


def test_connection_and_prompt_rules() -> None:
    errors = _errors(ConnectionIn, {"name": "c", "base_url": "ftp://x", "auth_type": "header"})
    assert ("base_url",) in errors
    assert ("auth_name",) in errors
    errors = _errors(ConnectionIn, {"name": "c", "base_url": "https://u:p@x.io"})
    assert "credentials" in errors[("base_url",)]
    errors = _errors(
        ConnectionIn,
        {"name": "c", "base_url": "https://x.io", "headers": {"Bad Name": "v", "X-Ok": "a\r\nb"}},
    )
    assert ("headers", "Bad Name") in errors
    assert ("headers", "X-Ok") in errors
    errors = _errors(
        PromptIn,
        {"name": "p", "user": "u", "model": "m", "temperature": 3, "variables": {"1x": ""}},
    )
    assert ("temperature",) in errors
    assert ("variables", "1x") in errors
