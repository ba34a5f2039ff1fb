"""Token check against Discord REST, with an in-memory transport standing in for Discord."""

from __future__ import annotations

import httpx
import pytest

from bot_service.discord_rest import (
    DiscordRateLimitedError,
    DiscordRest,
    DiscordUnavailableError,
    TokenRejectedError,
    plausible_token,
)

TOKEN = "MTAxMjM0NTY3ODkwMTIzNDU2Nzg5.Gabcde.0123456789abcdefghijklmnopqrstuv"


def rest_with(handler: httpx.MockTransport) -> DiscordRest:
    rest = DiscordRest("http://discord.test/api/v10")
    rest._client = httpx.AsyncClient(transport=handler)
    return rest


async def test_identify_reads_user_and_application() -> None:
    seen: list[str] = []

    def handle(req: httpx.Request) -> httpx.Response:
        seen.append(f"{req.url.path} {req.headers['Authorization'] == 'Bot ' + TOKEN}")
        if req.url.path.endswith("/users/@me"):
            return httpx.Response(200, json={"id": "11", "username": "helper", "bot": True})
        return httpx.Response(200, json={"id": "22", "flags": 1 << 18})

    identity = await rest_with(httpx.MockTransport(handle)).identify(TOKEN)
    assert (identity.user_id, identity.username, identity.application_id) == ("11", "helper", "22")
    assert identity.application_flags == 1 << 18
    assert seen == ["/api/v10/users/@me True", "/api/v10/applications/@me True"]


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (401, {"message": "401: Unauthorized", "code": 0}, TokenRejectedError, "rejected"),
        (429, {"retry_after": 3.5}, DiscordRateLimitedError, "try again in 4 s"),
        (502, {}, DiscordUnavailableError, "502"),
    ],
)
async def test_errors_are_clear_and_never_contain_the_token(
    status: int, body: dict[str, object], error: type[Exception], text: str
) -> None:
    rest = rest_with(httpx.MockTransport(lambda _: httpx.Response(status, json=body)))
    with pytest.raises(error) as err:
        await rest.identify(TOKEN)
    assert text in str(err.value)
    assert TOKEN not in str(err.value)


async def test_a_user_token_is_refused() -> None:
    rest = rest_with(
        httpx.MockTransport(lambda _: httpx.Response(200, json={"id": "1", "username": "me"}))
    )
    with pytest.raises(TokenRejectedError, match="not a bot"):
        await rest.identify(TOKEN)


async def test_unreachable_discord_is_unavailable() -> None:
    def boom(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    with pytest.raises(DiscordUnavailableError, match="could not reach Discord"):
        await rest_with(httpx.MockTransport(boom)).identify(TOKEN)


def test_obviously_wrong_values_are_refused_without_asking() -> None:
    assert plausible_token(TOKEN) is None
    assert "spaces" in (plausible_token("Bot " + TOKEN) or "")
    assert "short" in (plausible_token("abc") or "")
