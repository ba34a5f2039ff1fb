"""Try it: invoke a bot's command as a sandbox user and return the bot's answer.

Only when `DISCORD_BASE_URL` is a discord-sandbox (detected with `GET {base}/_sandbox/health`,
cached). Uses the sandbox's control API (discord-sandbox/README.md): a "botcenter-try-it"
user, a guild the application is installed in (the user joins it), then
`POST /_sandbox/interactions` and `GET /_sandbox/interactions/{id}?wait=S` for slash and
context-menu commands, or `POST /_sandbox/messages` and the channel's next bot message for
prefix commands. The real bot (discord.py in this fleet) and command-service answer, as for
any Discord user.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from proto.bots import SandboxInfo, TryInvoke, TryResult
from proto.errors import ErrorCode
from services.errors import RpcError

TRY_USERNAME = "botcenter-try-it"
TRY_GUILD = "botcenter try-it"
POSITIVE_TTL_S = 300.0
NEGATIVE_TTL_S = 30.0
# The command may have been saved a moment ago: Discord (the sandbox) learns it when the
# bot's sync ran. Retry an unknown name this long before saying so.
UNKNOWN_COMMAND_GRACE_S = 4.0
NOT_SANDBOX = (
    "Try it needs the local discord-sandbox: this server talks to Discord itself "
    "(DISCORD_BASE_URL); use the command's dry run (POST /v1/bots/{id}/commands/{cid}/test)"
)


class SandboxUnavailableError(Exception):
    pass


@dataclass
class _Place:
    user_id: str
    guild_id: str
    channel_id: str


class SandboxTry:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url + "/_sandbox", timeout=timeout_s)
        self._enabled: tuple[bool, float] | None = None
        self._user_id: str | None = None
        self._places: dict[tuple[str, str | None], _Place] = {}
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    info_disabled_message = NOT_SANDBOX

    # ------------------------------------------------------------------ detection
    async def enabled(self) -> bool:
        now = time.monotonic()
        if self._enabled is not None and self._enabled[1] > now:
            return self._enabled[0]
        ok = False
        try:
            resp = await self._http.get("/health", timeout=2.0)
            ok = resp.status_code == 200 and resp.json().get("status") == "ok"
        except (httpx.HTTPError, ValueError, AttributeError):
            ok = False
        self._enabled = (ok, now + (POSITIVE_TTL_S if ok else NEGATIVE_TTL_S))
        return ok

    async def info(self) -> SandboxInfo:
        if await self.enabled():
            return SandboxInfo(
                enabled=True,
                message="Discord is the local discord-sandbox: Try it invokes commands as a "
                "sandbox user and shows the bot's real answer",
            )
        return SandboxInfo(enabled=False, message=NOT_SANDBOX)

    # ------------------------------------------------------------------ control API
    async def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RpcError(
                ErrorCode.UNAVAILABLE,
                f"the discord-sandbox is not reachable ({type(exc).__name__})",
            ) from None

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self._call(method, path, **kw)
        if resp.status_code >= 400:
            raise RpcError(
                ErrorCode.UNAVAILABLE,
                f"the discord-sandbox refused {method} {path.split('?')[0]}: {_error_of(resp)}",
            )
        return resp.json()

    async def _try_user(self) -> str:
        if self._user_id is None:
            users = await self._json("GET", "/users")
            found = next((u for u in users if u.get("username") == TRY_USERNAME), None)
            if found is None:
                found = await self._json("POST", "/users", json={"username": TRY_USERNAME})
            self._user_id = str(found["id"])
        return self._user_id

    async def _place(self, application_id: str, guild_id: str | None) -> _Place:
        """Where the try-it user invokes: a guild with the application installed (the given
        one, else one it is in, else a new one) with the user as a member."""
        key = (application_id, guild_id)
        async with self._lock:
            if key in self._places:
                return self._places[key]
            user_id = await self._try_user()
            if guild_id is None:
                app = await self._json("GET", f"/applications/{application_id}")
                guild_ids = [str(g) for g in app.get("guild_ids") or []]
                if guild_ids:
                    guild_id = guild_ids[0]
                else:
                    made = await self._json(
                        "POST", "/guilds", json={"name": TRY_GUILD, "members": [user_id]}
                    )
                    guild_id = str(made["guild_id"])
                    await self._json(
                        "POST",
                        f"/guilds/{guild_id}/install",
                        json={"application_id": application_id},
                    )
            resp = await self._call("GET", f"/guilds/{guild_id}")
            if resp.status_code == 404:
                raise RpcError(ErrorCode.NOT_FOUND, f"the sandbox has no guild {guild_id}")
            guild = resp.json()
            if application_id not in [str(a) for a in guild.get("application_ids") or []]:
                raise RpcError(
                    ErrorCode.VALIDATION,
                    f"the bot is not installed in the sandbox guild {guild_id}",
                )
            if user_id not in [str(m) for m in guild.get("member_ids") or []]:
                await self._json("POST", f"/guilds/{guild_id}/members", json={"user_id": user_id})
            channels = [str(c) for c in guild.get("channel_ids") or []]
            if not channels:
                raise RpcError(ErrorCode.VALIDATION, f"the sandbox guild {guild_id} has no channel")
            place = _Place(user_id, guild_id, channels[0])
            self._places[key] = place
            return place

    # ------------------------------------------------------------------ invoke
    async def invoke(self, application_id: str, bot_user_id: str, req: TryInvoke) -> TryResult:
        if not await self.enabled():
            raise RpcError(ErrorCode.NOT_FOUND, NOT_SANDBOX)
        place = await self._place(application_id, req.guild_id)
        channel_id = req.channel_id or place.channel_id
        if req.kind == "prefix":
            return await self._prefix(bot_user_id, place, channel_id, req)
        body: dict[str, Any] = {
            "application_id": application_id,
            "guild_id": place.guild_id,
            "user_id": place.user_id,
            "channel_id": channel_id,
            "name": req.name,
            "options": req.options,
        }
        if req.kind == "user":
            body["command_type"] = 2
            body["target_id"] = place.user_id
        elif req.kind == "message":
            target = await self._json(
                "POST",
                "/messages",
                json={"channel_id": channel_id, "author_id": place.user_id, "content": "try-it"},
            )
            body["command_type"] = 3
            body["target_id"] = str(target["id"])
        else:
            body["command_type"] = 1
        give_up = time.monotonic() + UNKNOWN_COMMAND_GRACE_S
        while True:
            resp = await self._call("POST", "/interactions", json=body)
            if resp.status_code != 404 or time.monotonic() >= give_up:
                break
            await asyncio.sleep(0.25)
        if resp.status_code == 409:
            raise RpcError(
                ErrorCode.CONFLICT,
                "the bot has no live gateway session for this guild: start it and wait until "
                "it is online",
            )
        if resp.status_code == 404:
            raise RpcError(
                ErrorCode.NOT_FOUND,
                f"Discord does not know the command {req.name!r} for this bot yet: check the "
                "command's sync state (GET /v1/bots/{id}/commands/sync)",
            )
        if resp.status_code >= 400:
            raise RpcError(
                ErrorCode.VALIDATION, f"the sandbox refused the interaction: {_error_of(resp)}"
            )
        interaction_id = str(resp.json()["interaction_id"])
        answer = await self._call(
            "GET",
            f"/interactions/{interaction_id}",
            params={"wait": req.wait_s},
            timeout=req.wait_s + 5.0,
        )
        if answer.status_code == 408:
            raise RpcError(
                ErrorCode.TIMEOUT,
                f"the bot did not answer within {req.wait_s:.0f} s",
                details={"interaction_id": interaction_id},
            )
        if answer.status_code >= 400:
            raise RpcError(ErrorCode.UNAVAILABLE, f"the sandbox answered {answer.status_code}")
        data = answer.json()
        return TryResult(
            interaction_id=interaction_id,
            content=data.get("content"),
            embeds=list(data.get("embeds") or []),
            ephemeral=bool(data.get("ephemeral")),
            deferred=bool(data.get("deferred")),
            latency_ms=data.get("latency_ms"),
            guild_id=place.guild_id,
            channel_id=channel_id,
            user_id=place.user_id,
        )

    async def _prefix(
        self, bot_user_id: str, place: _Place, channel_id: str, req: TryInvoke
    ) -> TryResult:
        if not req.prefix:
            raise RpcError(
                ErrorCode.VALIDATION, "this bot has no command prefix: set one in its settings"
            )
        text = f"{req.prefix}{req.name}"
        if req.content:
            text += f" {req.content}"
        started = time.monotonic()
        sent = await self._json(
            "POST",
            "/messages",
            json={"channel_id": channel_id, "author_id": place.user_id, "content": text},
        )
        resp = await self._call(
            "GET",
            f"/channels/{channel_id}/messages",
            params={"after": str(sent["id"]), "author_id": bot_user_id, "wait": req.wait_s},
            timeout=req.wait_s + 5.0,
        )
        messages = resp.json() if resp.status_code == 200 else []
        if not messages:
            raise RpcError(
                ErrorCode.TIMEOUT,
                f"the bot did not answer {text!r} within {req.wait_s:.0f} s (prefix commands "
                "need the MESSAGE_CONTENT intent)",
            )
        first = messages[0]
        return TryResult(
            interaction_id=None,
            content=first.get("content"),
            embeds=list(first.get("embeds") or []),
            ephemeral=bool(int(first.get("flags") or 0) & 64),
            deferred=False,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            guild_id=place.guild_id,
            channel_id=channel_id,
            user_id=place.user_id,
        )


def _error_of(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error") or resp.status_code)
    except (ValueError, AttributeError):
        return str(resp.status_code)
