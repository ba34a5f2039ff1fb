"""Optional JSON snapshot of the sandbox's entities (`--state FILE`).

Written atomically shortly after changes and at shutdown; loaded at start. Sessions,
interactions, counters and OAuth codes/tokens are deliberately not kept.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .oauth_store import OAuthClient, OAuthStore
from .state import (
    MESSAGES_KEPT_PER_CHANNEL,
    Application,
    Channel,
    Command,
    Guild,
    Member,
    Message,
    Role,
    SandboxState,
    User,
)

log = logging.getLogger(__name__)
VERSION = 1


def dump(state: SandboxState, oauth: OAuthStore) -> dict[str, Any]:
    users = []
    for user in state.users.values():
        data = asdict(user)
        data["avatar_bytes"] = (
            base64.b64encode(user.avatar_bytes).decode() if user.avatar_bytes else None
        )
        users.append(data)
    apps = []
    for app in state.applications.values():
        data = asdict(app)
        data["privileged_intents"] = sorted(app.privileged_intents)
        data["commands"] = [asdict(c) for c in app.commands.values()]
        apps.append(data)
    guilds = []
    for guild in state.guilds.values():
        data = asdict(guild)
        data["roles"] = [asdict(r) for r in guild.roles.values()]
        data["members"] = [asdict(m) for m in guild.members.values()]
        guilds.append(data)
    return {
        "version": VERSION,
        "system_user_id": state.system_user.id,
        "users": users,
        "applications": apps,
        "guilds": guilds,
        "channels": [asdict(c) for c in state.channels.values()],
        "messages": [asdict(m) for log_ in state.messages.values() for m in log_],
        "oauth_clients": [asdict(c) for c in oauth.clients.values()],
        "signing_key": {"pem": oauth.signing_key_pem(), "kid": oauth.key_id},
    }


def load(data: dict[str, Any], state: SandboxState, oauth: OAuthStore) -> None:
    if data.get("version") != VERSION:
        raise ValueError(f"unsupported snapshot version {data.get('version')!r}")
    state.users.clear()
    for raw in data["users"]:
        raw = dict(raw)
        raw["avatar_bytes"] = (
            base64.b64decode(raw["avatar_bytes"]) if raw.get("avatar_bytes") else None
        )
        user = User(**raw)
        state.users[user.id] = user
        state.snowflakes.observe(user.id)
    state.system_user = state.users[int(data["system_user_id"])]
    for raw in data["applications"]:
        raw = dict(raw)
        commands = [Command(**c) for c in raw.pop("commands")]
        raw["privileged_intents"] = set(raw["privileged_intents"])
        app = Application(**raw)
        app.commands = {c.id: c for c in commands}
        state.applications[app.id] = app
        state.apps_by_token[app.token] = app
        state.snowflakes.observe(app.id)
    for raw in data["guilds"]:
        raw = dict(raw)
        roles = [Role(**r) for r in raw.pop("roles")]
        members = [Member(**m) for m in raw.pop("members")]
        guild = Guild(**raw)
        guild.roles = {r.id: r for r in roles}
        guild.members = {m.user_id: m for m in members}
        state.guilds[guild.id] = guild
        state.snowflakes.observe(guild.id)
    for raw in data["channels"]:
        channel = Channel(**raw)
        state.channels[channel.id] = channel
    for raw in data["messages"]:
        message = Message(**raw)
        state.messages.setdefault(
            message.channel_id, deque(maxlen=MESSAGES_KEPT_PER_CHANNEL)
        ).append(message)
        state.message_index[message.id] = message
        state.snowflakes.observe(message.id)
    for raw in data.get("oauth_clients", []):
        client = OAuthClient(**raw)
        oauth.clients[client.client_id] = client
    key = data.get("signing_key")
    if key:
        oauth.load_signing_key(key["pem"], key["kid"])


class Snapshotter:
    """Writes the snapshot when the state's revision moved, at most every `interval_s`."""

    def __init__(
        self, path: Path, state: SandboxState, oauth: OAuthStore, interval_s: float = 1.0
    ) -> None:
        self.path = path
        self.state = state
        self.oauth = oauth
        self.interval_s = interval_s
        self._written = -1
        self._task: asyncio.Task[None] | None = None

    def load_if_present(self) -> bool:
        if not self.path.exists():
            return False
        load(json.loads(self.path.read_text()), self.state, self.oauth)
        self._written = self.state.revision
        return True

    def write(self) -> None:
        self._write_text(json.dumps(dump(self.state, self.oauth)))
        self._written = self.state.revision

    def _write_text(self, text: str) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, self.path)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.state.revision != self._written:
                # Serialize on the loop (the state is not thread-safe), write in a thread.
                revision = self.state.revision
                text = json.dumps(dump(self.state, self.oauth))
                try:
                    await asyncio.to_thread(self._write_text, text)
                    self._written = revision
                except OSError:
                    log.exception("could not write the sandbox snapshot to %s", self.path)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.write()
