"""Mirrors each bot's desired state from Postgres (the source of truth) to the NATS KV
bucket `bot_desired`, which every fleet replica watches.

`sync(bot_id)` runs after the transaction that changed the bot has committed: it reads
the row again and writes it with compare-and-set on the key's revision, retrying on a
conflict. Whoever writes last has therefore read the database after every commit that
preceded its write, so concurrent changes (on any replica) cannot leave a stale value.
A bot that no longer exists has its key deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from bot_service import repository
from bot_service.models import Bot
from proto.fleet import DesiredBot, Presence
from services.bus.kv import Store
from services.bus.types import (
    KeyDeletedError,
    KeyNotFoundError,
    KeyValue,
    KeyWrongLastSequenceError,
)
from services.db.engine import Database

log = logging.getLogger(__name__)

BUCKET = "bot_desired"
_ATTEMPTS = 20


def to_desired(bot: Bot) -> DesiredBot:
    return DesiredBot.from_row(bot, bot_id=bot.id, presence=Presence.model_validate(bot.presence))


def encode(bot: Bot) -> bytes:
    return to_desired(bot).model_dump_json().encode()


class DesiredMirror:
    def __init__(self, db: Database, kv: KeyValue) -> None:
        self.db = db
        self.kv = kv
        self.store = Store(kv)

    async def _current(self, key: str) -> tuple[bytes | None, int | None]:
        try:
            entry = await self.kv.get(key)
        except KeyDeletedError as exc:
            return None, exc.entry.revision if exc.entry is not None else None
        except KeyNotFoundError:
            return None, None
        return entry.value, entry.revision

    async def _read(self, bot_id: UUID) -> Bot | None:
        async with self.db.system_scope() as session:
            return await repository.get(session, bot_id)

    async def sync(self, bot_id: UUID) -> None:
        """Make `bot_desired.<bot_id>` equal the committed row (or absent)."""
        key = str(bot_id)
        for _ in range(_ATTEMPTS):
            # Revision first, row second: a write by anyone in between fails our CAS.
            value, revision = await self._current(key)
            bot = await self._read(bot_id)
            wanted = encode(bot) if bot is not None else None
            if wanted == value:
                return
            try:
                if wanted is None:
                    await self.kv.delete(key, last=revision)
                elif revision is None:
                    await self.kv.create(key, wanted)
                else:
                    await self.kv.update(key, wanted, last=revision)
            except KeyWrongLastSequenceError:
                continue
            return
        raise RuntimeError(f"could not mirror the desired state of bot {bot_id}")

    async def sync_many(self, bot_ids: Iterable[UUID]) -> None:
        for bot_id in bot_ids:
            await self.sync(bot_id)

    async def resync_all(self) -> tuple[int, int]:
        """Start-up: mirror every bot, remove keys of bots that no longer exist.

        Returns (keys written or confirmed, stale keys removed).
        """
        async with self.db.system_scope() as session:
            bots = set(await repository.all_bot_ids(session))
        # Each value is compared with the row's encoding, so values of an older shape
        # (`owner_id` before #17) are rewritten here.
        for bot_id in bots:
            await self.sync(bot_id)
        removed = 0
        for key in await self.store.keys():
            try:
                bot_id = UUID(key)
            except ValueError:
                await self.store.delete(key)
                removed += 1
                continue
            if bot_id not in bots:
                await self.sync(bot_id)
                removed += 1
        return len(bots), removed
