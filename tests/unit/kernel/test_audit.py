"""Audit records in the kernel: the canonical form and hash chain (pinned test vectors, which
log-service's store and `botcenter audit verify` must reproduce byte for byte) and
`diff`, which must never let a secret value into a record."""

from __future__ import annotations

import hashlib
import random
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
import pytest
from pydantic import BaseModel, SecretStr

from proto.audit import AUDIT_VALUE_MAX_CHARS, AuditRecord
from services.audit import GENESIS, HIDDEN_VALUE, audit_subject, canon, chain_hash, diff

ROW: dict[str, Any] = {
    "id": UUID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
    # Not UTC, on purpose: the canonical form is.
    "at": datetime(2026, 12, 7, 15, 4, 5, 123456, tzinfo=timezone(timedelta(hours=1))),
    # Upper case, as a string: the canonical form is a lower-case UUID.
    "actor_user_id": "5F0C7D3E-1A2B-4C3D-9E8F-7A6B5C4D3E2F",
    "actor_token_id": None,
    "workspace_id": UUID("11111111-2222-4333-8444-555555555555"),
    "action": "bot.update",
    "target_type": "bot",
    "target_id": "9d2c0d1e-0000-4000-8000-000000000001",
    "changes": {"name": {"old": "a", "new": "b"}, "avatar": {"changed": True}},
    "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0",
    "request_id": "r-1",
    "seq": 1,
    # Columns of the stored row that are not part of the record.
    "hash": b"\x01" * 32,
    "prev_hash": b"\x02" * 32,
}
CANON_1 = (
    b'{"action":"bot.update","actor_token_id":null,'
    b'"actor_user_id":"5f0c7d3e-1a2b-4c3d-9e8f-7a6b5c4d3e2f",'
    b'"at":"2026-12-07T14:04:05.123456Z",'
    b'"changes":{"avatar":{"changed":true},"name":{"new":"b","old":"a"}},"hv":1,'
    b'"id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","ip":"203.0.113.7","request_id":"r-1",'
    b'"seq":1,"target_id":"9d2c0d1e-0000-4000-8000-000000000001","target_type":"bot",'
    b'"user_agent":"Mozilla/5.0","workspace_id":"11111111-2222-4333-8444-555555555555"}'
)
HASH_1 = "8c7c4d90f287710a75307bf84ac5fdfb72f7099c1ceb77de496b419a6fcbda29"
ROW_2 = ROW | {
    "seq": 2,
    "action": "bot.start",
    "changes": {},
    "at": datetime(2026, 12, 7, 14, 5, tzinfo=UTC),
}
HASH_2 = "b0746e1ceabfb175dd55a5d61e63e0ac81d5241ae9a92dd7936a781afb8b752c"


def test_the_canonical_form_is_pinned() -> None:
    assert canon(ROW) == CANON_1
    # The vector is plain SHA-256 over genesis ‖ canon: reproducible without this code.
    assert hashlib.sha256(bytes(32) + CANON_1).hexdigest() == HASH_1


def test_the_chain_vectors() -> None:
    first = chain_hash(GENESIS, ROW)
    assert bytes(32) == GENESIS
    assert first.hex() == HASH_1
    assert b'"at":"2026-12-07T14:05:00.000000Z"' in canon(ROW_2)
    assert chain_hash(first, ROW_2).hex() == HASH_2


def test_a_record_and_its_stored_row_hash_alike() -> None:
    record = AuditRecord.model_validate(
        {k: v for k, v in ROW.items() if k in AuditRecord.model_fields}
    )
    assert canon(record, seq=1) == CANON_1
    assert chain_hash(GENESIS, record, seq=1).hex() == HASH_1


@pytest.mark.parametrize(
    "edit",
    [
        {"action": "bot.delete"},
        {"seq": 3},
        {"at": ROW["at"] + timedelta(microseconds=1)},
        {"changes": {"name": {"old": "a", "new": "c"}}},
        {"ip": None},
        {"actor_token_id": UUID(int=1)},
    ],
)
def test_any_edit_of_a_record_changes_its_hash(edit: dict[str, Any]) -> None:
    assert chain_hash(GENESIS, ROW | edit).hex() != HASH_1


def test_the_hash_depends_on_the_previous_one() -> None:
    assert chain_hash(b"\x00" * 31 + b"\x01", ROW).hex() != HASH_1
    with pytest.raises(ValueError, match="32 bytes"):
        chain_hash(b"short", ROW)


def test_a_timestamp_without_a_zone_or_a_record_without_seq_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        canon(ROW | {"at": datetime(2026, 12, 7, 14, 0)})
    with pytest.raises(ValueError, match="seq"):
        canon(ROW | {"seq": 0})


def test_the_audit_subject() -> None:
    ws = UUID("11111111-2222-4333-8444-555555555555")
    assert audit_subject(ws, "bot") == "aud.11111111-2222-4333-8444-555555555555.bot"


# --- diff --------------------------------------------------------------------------------


def test_diff_records_changed_fields_with_old_and_new() -> None:
    old = {"name": "a", "shards": 1, "same": True}
    new = {"name": "b", "shards": 2, "same": True, "added": [1, 2]}
    assert diff(old, new) == {
        "name": {"old": "a", "new": "b"},
        "shards": {"old": 1, "new": 2},
        "added": {"old": None, "new": [1, 2]},
    }


def test_diff_marks_a_secret_field_as_changed_only() -> None:
    changes = diff({"token": "old-secret", "x": 1}, {"token": "new-secret", "x": 1}, ["token"])
    assert changes == {"token": {"changed": True}}
    # Unchanged secrets are not mentioned at all.
    assert diff({"secret": "s"}, {"secret": "s"}, ["secret"]) == {}


def test_diff_of_pydantic_models_hides_secret_strings() -> None:
    class Conn(BaseModel):
        url: str
        key: SecretStr

    changes = diff(
        Conn(url="https://a", key=SecretStr("k1")), Conn(url="https://b", key=SecretStr("k2"))
    )
    assert changes == {"url": {"old": "https://a", "new": "https://b"}, "key": {"changed": True}}


def test_diff_bounds_long_strings() -> None:
    long = "x" * (AUDIT_VALUE_MAX_CHARS + 1)
    changes = diff({"body": "short"}, {"body": long})
    assert changes["body"]["new"] == {
        "len": len(long),
        "sha256_12": hashlib.sha256(long.encode()).hexdigest()[:12],
    }


def test_diff_redacts_what_looks_like_a_token_in_plain_fields() -> None:
    jwt = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    changes = diff({"note": "none"}, {"note": f"use {jwt}"})
    assert jwt not in orjson.dumps(changes).decode()


CANARY = "CANARY-{}-do-not-record"
SECRET_NAMES = ["token", "secret", "secret_headers", "password", "bot_token", "api_key"]


def _random_value(rng: random.Random, depth: int, canaries: list[str]) -> Any:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.randint(-5, 5)
    if kind == 1:
        return "".join(rng.choices(string.ascii_letters, k=rng.randint(0, 12)))
    if kind == 2:
        return None
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return [_random_value(rng, depth + 1, canaries) for _ in range(rng.randint(0, 3))]
    if kind == 5:
        return SecretStr(_canary(rng, canaries))
    return _random_dict(rng, depth + 1, canaries)


def _canary(rng: random.Random, canaries: list[str]) -> str:
    value = CANARY.format(rng.getrandbits(32))
    canaries.append(value)
    return value


def _random_dict(rng: random.Random, depth: int, canaries: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(rng.randint(0, 5)):
        if rng.random() < 0.25:
            # A secret, at any depth: by the name the service declares, or as a SecretStr.
            name = rng.choice(SECRET_NAMES)
            out[name] = (
                _canary(rng, canaries)
                if rng.random() < 0.7
                else {"Authorization": f"Bearer {_canary(rng, canaries)}"}
            )
        else:
            key = rng.choice(
                ["name", "url", "shards", "prompt", "headers", "options", "max_tokens"]
            )
            out[key] = _random_value(rng, depth, canaries)
    return out


def test_diff_never_emits_a_secret_value_over_many_random_records() -> None:
    rng = random.Random(1717)
    secret_fields = ["secret_headers", "secret"]
    seen_changes = 0
    for _ in range(3000):
        canaries: list[str] = []
        old = _random_dict(rng, 0, canaries)
        new = _random_dict(rng, 0, canaries)
        if rng.random() < 0.3:
            new.update({k: v for k, v in old.items() if rng.random() < 0.5})
        changes = diff(old, new, secret_fields)
        text = orjson.dumps(changes).decode()
        assert "CANARY" not in text, (old, new, changes)
        seen_changes += bool(changes)
        for key, change in changes.items():
            assert change == {"changed": True} or set(change) == {"old", "new"}, key
    # The generator exercises the interesting cases, not only empty diffs.
    assert seen_changes > 2000


def test_a_secret_nested_in_a_plain_field_is_replaced_in_place() -> None:
    old = {"options": {"mode": "a", "api_key": CANARY.format(1)}}
    new = {"options": {"mode": "b", "api_key": CANARY.format(2)}}
    assert diff(old, new) == {
        "options": {
            "old": {"mode": "a", "api_key": HIDDEN_VALUE},
            "new": {"mode": "b", "api_key": HIDDEN_VALUE},
        }
    }
    # A change only inside a secret is recorded as a change, without a value.
    only_secret = {"options": {"mode": "a", "api_key": CANARY.format(3)}}
    assert diff(old, only_secret) == {"options": {"changed": True}}


def test_a_service_may_publish_only_its_own_audit_records() -> None:
    from proto import REGISTRY
    from services.natsconf import service_permissions

    allowed = service_permissions(REGISTRY, "bot")["publish"]["allow"]  # type: ignore[index]
    assert "aud.*.bot" in allowed
    assert not any(s.startswith("aud.") and s != "aud.*.bot" for s in allowed)


def test_a_new_record_names_the_caller_their_client_and_request() -> None:
    from proto import headers as H
    from proto.access import Access, Grant
    from services.audit import new_record

    user, token, ws = UUID(int=1), UUID(int=2), UUID(int=3)
    access = Access(
        user_id=user, token_id=token, grants=[Grant(workspace_id=ws, role="viewer", permissions=1)]
    )
    headers = {
        H.CLIENT: orjson.dumps({"ip": "203.0.113.9", "ua": "curl/8"}).decode(),
        H.REQUEST_ID: "req-7",
    }
    record = new_record(
        access, headers, workspace_id=ws, action="bot.start", target_type="bot", target_id=ws,
        changes={"running": {"old": False, "new": True}},
    )
    assert (record.actor_user_id, record.actor_token_id, record.workspace_id) == (user, token, ws)
    assert (record.ip, record.user_agent, record.request_id) == ("203.0.113.9", "curl/8", "req-7")
    assert (record.action, record.target_type, record.target_id) == ("bot.start", "bot", str(ws))
    assert record.at.tzinfo is not None
    assert record.id.version == 7
    # System work has no actor; a client header that is not the kernel's records nothing.
    system = new_record(
        Access.system_for("bot", ws), {H.CLIENT: "not json"}, workspace_id=ws, action="bot.stop"
    )
    assert (system.actor_user_id, system.ip, system.user_agent, system.request_id) == (
        None, None, None, None,
    )
    with pytest.raises(ValueError):
        new_record(None, {}, workspace_id=ws, action="bot.fly")


def test_an_actor_records_who_and_from_where() -> None:
    from proto import headers as H
    from proto.access import Access
    from services.access import personal_access
    from services.audit import AuditActor

    user, token, ws = UUID(int=1), UUID(int=2), UUID(int=3)
    access = Access(user_id=user, token_id=token, grants=personal_access(user).grants)
    headers = {
        H.CLIENT: orjson.dumps({"ip": "198.51.100.9", "ua": "x" * 2000}).decode(),
        H.REQUEST_ID: "req-1",
    }
    actor = AuditActor.of(access, headers)
    record = actor.record(ws, "file.delete", target_type="file", target_id=UUID(int=4))
    assert (record.actor_user_id, record.actor_token_id, record.workspace_id) == (user, token, ws)
    assert (record.ip, record.request_id) == ("198.51.100.9", "req-1")
    assert record.target_id == str(UUID(int=4))
    # A user agent longer than the record allows is cut, not a reason to refuse the change.
    assert record.user_agent == "x" * 512
    assert record.at.tzinfo is not None
    assert record.changes == {}
    assert actor.record(ws, "file.upload").id != record.id
    # No or a malformed client header: no client, the record is still made.
    for client in ({}, {H.CLIENT: "not json"}, {H.CLIENT: '["ip"]'}):
        bare = AuditActor.of(access, client).record(ws, "file.upload")
        assert (bare.ip, bare.user_agent, bare.actor_user_id) == (None, None, user)
    with pytest.raises(ValueError, match="unknown audit action"):
        actor.record(ws, "file.explode")
