"""Checks a bot token against Discord's REST API (or the sandbox): who is this bot?

Only `GET /users/@me` and `GET /applications/@me`. The token goes in the Authorization
header and nowhere else: error messages name the endpoint and status, never the token.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.sizes import human_duration


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    username: str
    application_id: str
    application_flags: int
    avatar_hash: str | None = None


class TokenRejectedError(Exception):
    """Discord says the token is not a valid bot token (message safe for users)."""


class DiscordUnavailableError(Exception):
    """Discord could not be asked (network, 5xx); message safe for users."""


class DiscordRateLimitedError(Exception):
    def __init__(self, retry_after_s: float) -> None:
        wait = human_duration(retry_after_s)
        super().__init__(f"Discord is rate limiting token checks; try again in {wait}")
        self.retry_after_s = retry_after_s


REJECTED = (
    "Discord rejected this token (401 Unauthorized): copy the bot token from the Bot page "
    "of your application in the Discord developer portal (reset it if needed)"
)


def plausible_token(token: str) -> str | None:
    """A reason when the value cannot be a bot token at all (no request needed)."""
    if any(c.isspace() for c in token):
        return "a bot token contains no spaces (paste only the token, without 'Bot ')"
    if len(token) < 20:
        return "this is too short to be a Discord bot token"
    if not token.isascii():
        return "a bot token contains only ASCII characters"
    return None


class DiscordRest:
    def __init__(self, api_url: str, *, timeout_s: float = 8.0) -> None:
        self.api_url = api_url.rstrip("/")
        self._client = httpx.AsyncClient(
            timeout=timeout_s, headers={"User-Agent": "DiscordBot (botcenter, 0.1)"}
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, token: str) -> dict[str, object]:
        try:
            resp = await self._client.get(
                self.api_url + path, headers={"Authorization": f"Bot {token}"}
            )
        except httpx.HTTPError as exc:
            raise DiscordUnavailableError(
                f"could not reach Discord to check the token ({type(exc).__name__})"
            ) from None
        if resp.status_code == 401:
            raise TokenRejectedError(REJECTED)
        if resp.status_code == 403:
            raise TokenRejectedError(f"Discord refused GET {path} for this token (403 Forbidden)")
        if resp.status_code == 429:
            try:
                retry = float(resp.json().get("retry_after", 1.0))
            except (ValueError, AttributeError):
                retry = float(resp.headers.get("Retry-After", "1") or 1)
            raise DiscordRateLimitedError(retry)
        if resp.status_code >= 400:
            raise DiscordUnavailableError(
                f"Discord answered {resp.status_code} to GET {path} while checking the token"
            )
        try:
            data = resp.json()
        except ValueError:
            raise DiscordUnavailableError(f"Discord sent no JSON for GET {path}") from None
        if not isinstance(data, dict):
            raise DiscordUnavailableError(f"Discord sent an unexpected body for GET {path}")
        return data

    async def identify(self, token: str) -> BotIdentity:
        """Who the token belongs to; raises one of the errors above."""
        user = await self._get("/users/@me", token)
        if not user.get("bot"):
            raise TokenRejectedError(
                "this token belongs to a user account, not a bot: use the token from the "
                "Bot page of your application"
            )
        app = await self._get("/applications/@me", token)
        try:
            return BotIdentity(
                user_id=str(user["id"]),
                username=str(user.get("username") or "bot"),
                application_id=str(app["id"]),
                application_flags=int(str(app.get("flags") or 0)),
                avatar_hash=str(user["avatar"]) if user.get("avatar") else None,
            )
        except (KeyError, ValueError):
            raise DiscordUnavailableError("Discord's answer lacked the bot's ids") from None
