"""What bot-service must forward for a bot (#18): the trigger manifest, built from the
bot's enabled automations. bot-service forwards only those events and ORs the intents
into what the bot identifies with; the hash lets it skip a refresh that changed nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from uuid import UUID

from proto.automations import TRIGGER_INTENTS, ButtonTrigger, Trigger, TriggerManifest

# Forwarded by no gateway event: schedules fire from command-service's own clock.
_NOT_FORWARDED = frozenset({"schedule"})


def trigger_manifest(bot_id: UUID, enabled: Iterable[Trigger]) -> TriggerManifest:
    events: set[str] = set()
    intents = 0
    prefixes: set[str] = set()
    for trigger in enabled:
        intents |= TRIGGER_INTENTS[trigger.type]
        if trigger.type in _NOT_FORWARDED:
            continue
        events.add(trigger.type)
        if isinstance(trigger, ButtonTrigger):
            prefixes.add(trigger.custom_id_prefix)
    body = {
        "events": sorted(events),
        "intents": intents,
        "button_prefixes": sorted(prefixes),
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    return TriggerManifest.model_validate({"bot_id": bot_id, **body, "hash": digest})
