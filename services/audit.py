"""Audit records (#17): the canonical bytes and the hash chain of a stored record, shared by
log-service's store and `botcenter audit verify`, and `diff`, the `changes` a service
records for an update, which never carries a secret value.

The chain (docs/design/teams.md §6.2): each workspace's records are numbered `seq` 1, 2, …
and `hash(n) = sha256(hash(n-1) ‖ canon(record n))`, starting from GENESIS. `canon` is
orjson with sorted keys over exactly the fields of `proto.audit.AuditRecord` plus
`hv` (the canon's version) and `seq`: a field added to the record later does not change the
hash of rows already stored, until `hv` says so.
"""

from __future__ import annotations

import contextvars
import hashlib
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, TypedDict, Unpack
from uuid import UUID

import orjson
from pydantic import BaseModel, SecretBytes, SecretStr

from proto import headers as H
from proto.access import Access
from proto.audit import AUDIT_VALUE_MAX_CHARS, AuditRecord
from proto.events import new_event_id
from services.telemetry.redaction import redact

# The version of `canon`, hashed with every record.
HASH_VERSION: Final = 1
# The `prev_hash` of a workspace's first record.
GENESIS: Final = bytes(32)

# The record's fields in the canonical form (every one present, null when unset).
CANON_FIELDS: Final[tuple[str, ...]] = tuple(AuditRecord.model_fields)
_UUID_FIELDS: Final = frozenset({"id", "actor_user_id", "actor_token_id", "workspace_id"})


# The `bc-client` header (`{"ip", "ua"}`) of the request being served: the gateway sets it
# for a state-changing request, `RpcClient.call_raw` forwards it with every call made for
# that request, so the service writing the record knows the person's address and agent.
client_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("bc_client", default=None)


def client_header(ip: str | None, user_agent: str | None) -> str:
    """The `bc-client` value, each part cut to what an audit record holds."""
    body = {"ip": _clip(ip, "ip"), "ua": _clip(user_agent, "user_agent")}
    return orjson.dumps(body).decode()


def client_of(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """`(ip, user_agent)` of a message's `bc-client` header; `(None, None)` without one or
    for a malformed one (an audit record is still written, without them)."""
    raw = headers.get(H.CLIENT)
    if not raw:
        return None, None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return _clip(body.get("ip"), "ip"), _clip(body.get("ua"), "user_agent")


def audit_subject(workspace_id: UUID, service: str) -> str:
    """`aud.<workspace_id>.<service>`: the subject a service's audit records are published
    on (stream `AUDIT`); the service's NATS user may publish only its own."""
    return f"aud.{workspace_id}.{service}"


class Target(TypedDict, total=False):
    """What a record is about: the thing changed and how (`diff`)."""

    target_type: str | None
    target_id: UUID | str | None
    changes: Mapping[str, Any] | None


def new_record(
    access: Access | None,
    headers: Mapping[str, str],
    *,
    workspace_id: UUID,
    action: str,
    **target: Unpack[Target],
) -> AuditRecord:
    """The record of a change made for the caller of a message, in one call:
    `AuditActor.of(access, headers).record(...)`; system work (no access, or a system
    access) has no actor."""
    return AuditActor.of(access, headers).record(workspace_id, action, **target)


def rfc3339(at: datetime) -> str:
    """`2026-12-07T14:00:00.000000Z`: UTC, always six fractional digits."""
    if at.tzinfo is None:
        raise ValueError("an audit timestamp must carry its time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value if isinstance(value, UUID) else UUID(str(value)))


def canon(row: Mapping[str, Any] | AuditRecord, seq: int | None = None) -> bytes:
    """The canonical bytes of a stored record: a mapping with the record's fields and
    `seq` (a database row; other columns such as the hashes are ignored), or an
    `AuditRecord` with its `seq`."""
    fields: Mapping[str, Any] = row.model_dump() if isinstance(row, AuditRecord) else row
    if seq is None:
        seq = fields["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError(f"seq must be a positive integer, not {seq!r}")
    body: dict[str, Any] = {"hv": HASH_VERSION, "seq": seq}
    for name in CANON_FIELDS:
        value: Any = fields.get(name)
        if name in _UUID_FIELDS:
            value = _uuid_text(value)
        elif name == "at":
            value = rfc3339(value)
        elif name == "changes":
            value = dict(value or {})
        body[name] = value
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev: bytes, row: Mapping[str, Any] | AuditRecord, seq: int | None = None) -> bytes:
    """sha256(prev ‖ canon(row)): the record's hash, chained to the previous one's."""
    if len(prev) != 32:
        raise ValueError("the previous hash is 32 bytes")
    return hashlib.sha256(prev + canon(row, seq)).digest()


# --- changes ---------------------------------------------------------------------------

# What a secret field's change is recorded as (proto.audit.AuditRecord): that it changed.
SECRET_CHANGE: Final[dict[str, Any]] = {"changed": True}
# A secret found inside a recorded value (a nested key, a SecretStr): its place, no value.
HIDDEN_VALUE: Final = "[secret]"

# Keys that name a secret wherever they appear, beyond the caller's `secret_fields`
# (`max_tokens` is not one: the suffix must be `_token`).
_SECRET_KEY: Final = re.compile(
    r"(?i)^(password|passwd|secret|token|api[_-]?key|authorization|proxy-authorization|"
    r"cookie|set-cookie|x-api-key|.*[_-](secret|token|password|api[_-]?key))$"
)
_MAX_DEPTH: Final = 16
_MISSING: Final = object()


def _secret_key(key: Any, secret_fields: frozenset[str]) -> bool:
    return isinstance(key, str) and (key in secret_fields or bool(_SECRET_KEY.match(key)))


def _is_secret(value: Any) -> bool:
    return isinstance(value, SecretStr | SecretBytes)


def _text(value: str) -> Any:
    value = redact(value)
    if len(value) > AUDIT_VALUE_MAX_CHARS:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return {"len": len(value), "sha256_12": digest[:12]}
    return value


def _plain(value: Any, secret_fields: frozenset[str], depth: int = 0) -> Any:
    """A JSON value to record for `value`: secrets in it replaced, strings redacted and
    bounded, bytes by their length only."""
    if value is None or value is _MISSING:
        return None
    if depth > _MAX_DEPTH or _is_secret(value):
        return HIDDEN_VALUE
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Enum):
        return _plain(value.value, secret_fields, depth + 1)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return rfc3339(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"len": len(value)}
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, Mapping):
        return {
            str(k): HIDDEN_VALUE
            if _secret_key(k, secret_fields)
            else _plain(v, secret_fields, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_plain(v, secret_fields, depth + 1) for v in items]
    return _text(str(value))


def diff(
    old: Mapping[str, Any] | BaseModel | None,
    new: Mapping[str, Any] | BaseModel | None,
    secret_fields: Iterable[str] = (),
) -> dict[str, Any]:
    """The `changes` of a record: `{field: {"old", "new"}}` for each top-level field whose
    value differs (None for a side without it: a create or a delete), and
    `{"changed": true}` for a field in `secret_fields`, a secret-named one or a SecretStr.
    A secret value never appears, neither whole nor nested in another field's value; every
    string goes through the log redaction, and one longer than AUDIT_VALUE_MAX_CHARS is
    recorded by its length and a short hash."""
    secrets = frozenset(secret_fields)
    before = dict(old) if isinstance(old, BaseModel) else dict(old or {})
    after = dict(new) if isinstance(new, BaseModel) else dict(new or {})
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after), key=str):
        was, now = before.get(key, _MISSING), after.get(key, _MISSING)
        if was == now:
            continue
        if _secret_key(key, secrets) or _is_secret(was) or _is_secret(now):
            changes[str(key)] = dict(SECRET_CHANGE)
            continue
        recorded_was, recorded_now = _plain(was, secrets), _plain(now, secrets)
        if recorded_was == recorded_now:
            # Differs only inside a secret (a nested token): say so without the value.
            changes[str(key)] = dict(SECRET_CHANGE)
            continue
        changes[str(key)] = {"old": recorded_was, "new": recorded_now}
    return changes


# --- records ---------------------------------------------------------------------------

# The records the request being served queued (`Outbox.add_audit`): the RPC server names
# them in its reply's `bc-audit` header, so the gateway sees which change wrote none. Each
# served request runs in a task of its own context copy, so nothing leaks between them.
written_var: ContextVar[tuple[UUID, ...]] = ContextVar("bc_audit_written", default=())


def audit_header() -> str | None:
    """The `bc-audit` value of the request being served: its records' ids, comma-separated;
    None when it wrote none."""
    written = written_var.get()
    return ",".join(str(i) for i in written) if written else None


@dataclass(frozen=True)
class AuditActor:
    """Who changed something and from where: what every record of one request repeats.
    A handler builds it (`of(ctx.access, ctx.headers)`); the service layer makes the
    records and queues them with `Outbox.add_audit` in the change's transaction."""

    user_id: UUID | None
    token_id: UUID | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, access: Access | None, headers: Mapping[str, str]) -> AuditActor:
        """The caller of `access`; IP and user agent from `bc-client` (the gateway's, on
        state-changing calls). A malformed `bc-client` records no client rather than
        refusing the change."""
        ip, agent = client_of(headers)
        return cls(
            user_id=access.user_id if access is not None else None,
            token_id=access.token_id if access is not None else None,
            ip=ip,
            user_agent=agent,
            request_id=_clip(headers.get(H.REQUEST_ID), "request_id"),
        )

    def record(self, workspace_id: UUID, action: str, **target: Unpack[Target]) -> AuditRecord:
        target_id = target.get("target_id")
        return AuditRecord(
            id=new_event_id(),
            at=datetime.now(UTC),
            actor_user_id=self.user_id,
            actor_token_id=self.token_id,
            workspace_id=workspace_id,
            action=action,
            target_type=target.get("target_type"),
            target_id=None if target_id is None else str(target_id),
            changes=dict(target.get("changes") or {}),
            ip=self.ip,
            user_agent=self.user_agent,
            request_id=self.request_id,
        )


def _clip(value: Any, field: str) -> str | None:
    """A string cut to the record field's `max_length` (a long user agent must not fail
    the change it describes)."""
    if not isinstance(value, str) or not value:
        return None
    limit = next(
        m.max_length for m in AuditRecord.model_fields[field].metadata if hasattr(m, "max_length")
    )
    return value[:limit]

