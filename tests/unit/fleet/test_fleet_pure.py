"""Rendezvous hashing, diagnosis of gateway failures, backoff."""

from __future__ import annotations

import random
from collections import Counter

from bot_service.fleet import diagnosis
from bot_service.fleet.hashing import owner


def test_rendezvous_moves_only_the_units_of_the_member_that_left() -> None:
    members = ["a", "b", "c"]
    units = [f"bot{i}.0" for i in range(300)]
    before = {u: owner(members, u) for u in units}
    assert set(Counter(before.values())) == {"a", "b", "c"}
    assert min(Counter(before.values()).values()) > 60  # roughly even
    after = {u: owner(["a", "c"], u) for u in units}
    moved = [u for u in units if before[u] != after[u]]
    assert moved
    assert all(before[u] == "b" for u in moved)
    assert owner([], "x") is None


def test_rendezvous_scale_up_moves_units_only_to_the_new_member() -> None:
    units = [f"bot{i}.{s}" for i in range(100) for s in range(2)]
    before = {u: owner(["a", "b"], u) for u in units}
    after = {u: owner(["a", "b", "new"], u) for u in units}
    assert all(after[u] == "new" for u in units if before[u] != after[u])


def test_disallowed_intents_names_the_missing_privileged_intent() -> None:
    members_and_content = (1 << 1) | (1 << 15) | 1
    # The app enabled MESSAGE_CONTENT (flag 1<<18) but not the members intent.
    d = diagnosis.close_code(
        4014,
        intents=members_and_content,
        application_flags=1 << 18,
        auto_shards=True,
        shard_count=1,
    )
    assert d.reason == "disallowed_intents"
    assert not d.retry
    assert "GUILD_MEMBERS" in d.message
    assert "Server Members Intent" in d.message
    assert "MESSAGE_CONTENT" not in d.message


def test_close_codes() -> None:
    kw = {"intents": 1, "application_flags": None, "shard_count": 2}
    assert diagnosis.close_code(4004, auto_shards=True, **kw).reason == "invalid_token"
    assert not diagnosis.close_code(4004, auto_shards=True, **kw).retry
    auto = diagnosis.close_code(4011, auto_shards=True, **kw)
    fixed = diagnosis.close_code(4011, auto_shards=False, **kw)
    assert auto.reason == fixed.reason == "sharding_required"
    assert auto.retry
    assert not fixed.retry
    assert diagnosis.close_code(4000, auto_shards=True, **kw).retry


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [diagnosis.backoff_delay(a, 1.0, 30.0, rng) for a in range(10)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4 <= delays[3] <= 8
    assert all(d <= 30 for d in delays)
    assert delays[-1] >= 15
    assert len({round(diagnosis.backoff_delay(5, 1.0, 30.0), 6) for _ in range(20)}) > 1
