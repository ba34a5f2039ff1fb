"""Config files whose values cannot travel on are a 422 naming the place, through the real
gateway (issue 23 item 6: a YAML file with a 5,000-digit integer answered 500)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.auth import sign_in


async def test_unfit_config_values_are_a_422_naming_the_field(
    auth_stack: Any, sandbox: Any, start_service: Any, tmp_path: Any
) -> None:
    start_service("storage", STORAGE_FS_ROOT=str(tmp_path / "objects"))
    who = await sign_in(auth_stack.url, sandbox)
    big = b"1" * 5000
    cases = [
        (
            "bot.yaml",
            b"prefix: '!'\ncommands:\n  - name: ping\n    cooldown_user_s: " + big + b"\n",
            ["document", "commands", 0, "cooldown_user_s"],
            "line 4",
        ),
        ("hex.yaml", b"prefix: 0x" + b"f" * 5000 + b"\n", ["document", "prefix"], "line 1"),
        ("date.yml", b"commands:\n  - 2024-02-30\n", ["document", "commands", 0], "line 2"),
        ("text.yaml", b'prefix: "\\ud800"\n', ["document", "prefix"], "prefix"),
        ("nul.json", b'{"prefix": "a\\u0000"}', ["document", "prefix"], "prefix"),
        ("big.json", b'{"commands": [18446744073709551615]}', ["document", "commands", 0], ""),
    ]
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=who.headers, timeout=30) as api:
        for name, data, loc, where in cases:
            r = await api.post(
                "/v1/files", files={"file": (name, data, "")}, data={"kind": "config"}
            )
            assert r.status_code == 422, (name, r.status_code, r.text[:300])
            error = r.json()["error"]
            assert error["code"] == "validation", name
            assert where in error["message"], (name, error["message"])
            assert loc in [f["loc"] for f in error["fields"]], (name, error["fields"])
        # A good file still goes in.
        ok = await api.post(
            "/v1/files",
            files={"file": ("ok.yaml", b"prefix: '!'\ncommands: []\n", "application/yaml")},
            data={"kind": "config"},
        )
        assert ok.status_code == 201, ok.text
