"""JSON responses exactly as Discord sends them.

discord.py parses a body as JSON only when Content-Type is exactly `application/json`
(aiohttp's `web.json_response` would add `; charset=utf-8`), so every JSON body goes through
`json_response` here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

JSON_CONTENT_TYPE = "application/json"


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = web.Response(body=dumps(data).encode(), status=status, headers=headers)
    response.headers["Content-Type"] = JSON_CONTENT_TYPE
    return response


def no_content(headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=204, headers=headers)
