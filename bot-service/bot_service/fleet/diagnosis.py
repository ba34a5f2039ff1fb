"""Why a shard is not online: turns what discord.py raised into a reason code, a message a
person can act on, and whether (and when) to try again."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Privileged intents and the switch that enables each in the Discord developer portal.
PRIVILEGED: dict[int, tuple[str, str, int]] = {
    # bit: (intent name, portal switch, application flags that mean "enabled")
    1 << 1: ("GUILD_MEMBERS", "Server Members Intent", (1 << 14) | (1 << 15)),
    1 << 8: ("GUILD_PRESENCES", "Presence Intent", (1 << 12) | (1 << 13)),
    1 << 15: ("MESSAGE_CONTENT", "Message Content Intent", (1 << 18) | (1 << 19)),
}

# Gateway close codes after which reconnecting cannot help.
FATAL_CLOSE_CODES = {4004, 4010, 4011, 4012, 4013, 4014}


@dataclass(frozen=True)
class Diagnosis:
    reason: str
    message: str
    retry: bool
    # Seconds to wait before the next attempt (None: use the backoff).
    retry_after_s: float | None = None


def missing_privileged(intents: int, application_flags: int | None) -> list[tuple[str, str]]:
    """(intent, portal switch) of requested privileged intents the app has not enabled."""
    missing = []
    for bit, (name, switch, flags) in PRIVILEGED.items():
        if intents & bit and (application_flags is None or not application_flags & flags):
            missing.append((name, switch))
    return missing


def disallowed_intents(intents: int, application_flags: int | None) -> Diagnosis:
    missing = missing_privileged(intents, application_flags) or missing_privileged(intents, None)
    if missing:
        names = ", ".join(name for name, _ in missing)
        switches = ", ".join(f"“{switch}”" for _, switch in missing)
        message = (
            f"Discord refused the privileged intent(s) {names}: enable {switches} on the "
            "Bot page of the application in the Discord developer portal, or remove "
            f"{'it' if len(missing) == 1 else 'them'} from the bot's intents."
        )
    else:
        message = (
            "Discord refused a privileged intent: enable it on the Bot page of the "
            "application in the Discord developer portal, or remove it from the bot's intents."
        )
    return Diagnosis("disallowed_intents", message, retry=False)


def close_code(
    code: int | None,
    *,
    intents: int,
    application_flags: int | None,
    auto_shards: bool,
    shard_count: int,
) -> Diagnosis:
    """A gateway close code (the connection is gone)."""
    if code == 4004:
        return invalid_token()
    if code == 4014:
        return disallowed_intents(intents, application_flags)
    if code == 4013:
        return Diagnosis(
            "invalid_intents", f"Discord refused the intents value {intents}.", retry=False
        )
    if code == 4011:
        if auto_shards:
            return Diagnosis(
                "sharding_required",
                "Discord asks for more shards; re-reading the recommended shard count.",
                retry=True,
                retry_after_s=0.0,
            )
        return Diagnosis(
            "sharding_required",
            f"Discord needs more than {shard_count} shard(s) for this bot: set a higher "
            "shard count, or leave it on automatic.",
            retry=False,
        )
    if code == 4010:
        return Diagnosis(
            "invalid_shard", f"Discord refused the shard count {shard_count}.", retry=False
        )
    if code == 4012:
        return Diagnosis("crashed", "Discord refused the gateway version.", retry=False)
    if code == 4008:
        return Diagnosis(
            "rate_limited", "Discord closed the connection: too many gateway messages.", True
        )
    return Diagnosis(
        "discord_unavailable",
        f"the gateway connection closed (code {code}); reconnecting",
        retry=True,
    )


def invalid_token() -> Diagnosis:
    return Diagnosis(
        "invalid_token",
        "Discord rejected the bot token (it was reset or revoked): replace the token.",
        retry=False,
    )


def rate_limited(retry_after_s: float) -> Diagnosis:
    return Diagnosis(
        "rate_limited",
        f"Discord rate limit: retrying in {retry_after_s:.1f} s.",
        retry=True,
        retry_after_s=retry_after_s,
    )


def unavailable(what: str) -> Diagnosis:
    return Diagnosis("discord_unavailable", f"Discord is not reachable ({what}); retrying.", True)


def crashed(exc: BaseException) -> Diagnosis:
    return Diagnosis(
        "crashed", f"the connection crashed with {type(exc).__name__}; restarting.", True
    )


def backoff_delay(
    attempt: int, base_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    ceiling = float(min(max_s, base_s * (2.0 ** min(attempt, 30))))
    return ceiling / 2 + float(rng.uniform(0, ceiling / 2))
