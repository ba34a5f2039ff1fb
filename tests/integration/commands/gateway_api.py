"""Request bodies and error reading shared by the command tests through the gateway."""

from __future__ import annotations

from typing import Any

import httpx


def command_body(**data: Any) -> dict[str, Any]:
    """A valid template command, with `data` on top."""
    return {"description": "d", "response": {"type": "template", "content": "ok"}, **data}


def field_errors(response: httpx.Response) -> dict[tuple[Any, ...], str]:
    """A 422's field errors by location."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation"
    return {tuple(f["loc"]): f["message"] for f in error["fields"]}
