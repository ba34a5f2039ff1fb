"""The subject registry: which subjects exist, their contracts, who serves and who may publish.

It is the single source for the NATS permissions config, the AsyncAPI document and the
typed RPC client, so a subject is declared exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

from proto.base import Contract

# Every process that talks on the bus. "cli" is the operator's `botcenter` command.
SERVICES: tuple[str, ...] = ("gateway", "auth", "bot", "command", "storage", "log")


_S = TypeVar("_S")
Req = TypeVar("Req", bound=Contract)
Rep = TypeVar("Rep", bound=Contract)


@dataclass(frozen=True)
class RpcSpec(Generic[Req, Rep]):
    """A request/reply operation `rpc.<service>.<operation>`."""

    subject: str
    request: type[Req]
    reply: type[Rep]
    service: str
    callers: frozenset[str]
    summary: str = ""
    # Operations that carry file bytes send them as the raw body with metadata in headers.
    raw_body: bool = False
    # Declared ahead of its handler (a contract agreed first, served by a later change): kept
    # in `Registry.planned`, out of `rpcs`, so no service must answer it and no NATS user may
    # publish it yet. Drop the flag in the change that adds the handler.
    planned: bool = False

    def __post_init__(self) -> None:
        parts = self.subject.split(".")
        if len(parts) < 3 or parts[0] != "rpc" or parts[1] != self.service:
            raise ValueError(f"RPC subject {self.subject!r} must be rpc.{self.service}.<op>")


@dataclass(frozen=True)
class SubjectSpec:
    """A family of published subjects and their contract; `pattern` uses NATS wildcards
    (`*` per token)."""

    pattern: str
    model: type[Contract]
    publishers: frozenset[str]


@dataclass(frozen=True)
class EventSpec(SubjectSpec):
    """A JetStream event family (persisted in the EVENTS stream)."""

    summary: str = ""

    def __post_init__(self) -> None:
        if not self.pattern.startswith("evt."):
            raise ValueError(f"event pattern {self.pattern!r} must start with evt.")


@dataclass(frozen=True)
class CoreSpec(SubjectSpec):
    """A plain core-NATS subject (not RPC, not persisted), e.g. bot control or revocations."""

    subscribers: frozenset[str]
    summary: str = ""


@dataclass(frozen=True)
class KvSpec:
    """A NATS KV bucket and the services that may write it."""

    bucket: str
    writers: frozenset[str]
    summary: str = ""


Spec: TypeAlias = RpcSpec[Any, Any] | EventSpec | CoreSpec | KvSpec


def declared_specs(namespace: Mapping[str, object]) -> list[Spec]:
    """The specs a contract module binds to its own names, in definition order.

    A module passes its `globals()` to build its SPECS, so a subject declared above cannot
    be left out of the registry by forgetting to list it a second time."""
    return [v for v in namespace.values() if isinstance(v, RpcSpec | EventSpec | CoreSpec | KvSpec)]


@dataclass
class Registry:
    rpcs: dict[str, RpcSpec[Any, Any]] = field(default_factory=dict)
    # RPCs whose contract is fixed but which nobody serves yet (`RpcSpec.planned`).
    planned: dict[str, RpcSpec[Any, Any]] = field(default_factory=dict)
    events: dict[str, EventSpec] = field(default_factory=dict)
    core: dict[str, CoreSpec] = field(default_factory=dict)
    kv: dict[str, KvSpec] = field(default_factory=dict)

    def add(self, specs: Iterable[Spec]) -> Registry:
        for spec in specs:
            if isinstance(spec, RpcSpec):
                if spec.subject in self.rpcs or spec.subject in self.planned:
                    raise ValueError(f"subject {spec.subject!r} declared twice")
                self._put(self.planned if spec.planned else self.rpcs, spec.subject, spec)
            elif isinstance(spec, EventSpec):
                self._put(self.events, spec.pattern, spec)
            elif isinstance(spec, KvSpec):
                self._put(self.kv, spec.bucket, spec)
            else:
                self._put(self.core, spec.pattern, spec)
        return self

    @staticmethod
    def _put(table: dict[str, _S], key: str, spec: _S) -> None:
        if key in table:
            raise ValueError(f"subject {key!r} declared twice")
        table[key] = spec

    def rpc(self, subject: str) -> RpcSpec[Any, Any]:
        try:
            return self.rpcs[subject]
        except KeyError:
            raise KeyError(f"unknown RPC subject {subject!r}") from None

    def served_by(self, service: str) -> list[RpcSpec[Any, Any]]:
        return [s for s in self.rpcs.values() if s.service == service]

    def called_by(self, service: str) -> list[RpcSpec[Any, Any]]:
        return [s for s in self.rpcs.values() if service in s.callers]

    def events_published_by(self, service: str) -> list[EventSpec]:
        return [e for e in self.events.values() if service in e.publishers]

    def core_published_by(self, service: str) -> list[CoreSpec]:
        return [c for c in self.core.values() if service in c.publishers]

    def core_subscribed_by(self, service: str) -> list[CoreSpec]:
        return [c for c in self.core.values() if service in c.subscribers]

    def kv_written_by(self, service: str) -> list[KvSpec]:
        return [k for k in self.kv.values() if service in k.writers]


def rpc(
    subject: str,
    request: type[Req],
    reply: type[Rep],
    *,
    callers: Iterable[str],
    summary: str = "",
    raw_body: bool = False,
    planned: bool = False,
) -> RpcSpec[Req, Rep]:
    """Declare an RPC; the serving service is the second token of the subject. `planned`:
    the contract is fixed, the handler comes later (see `RpcSpec.planned`)."""
    return RpcSpec(
        subject=subject,
        request=request,
        reply=reply,
        service=subject.split(".")[1],
        callers=frozenset(callers),
        summary=summary,
        raw_body=raw_body,
        planned=planned,
    )


def gateway_rpc(
    subject: str,
    request: type[Req],
    reply: type[Rep],
    summary: str = "",
    *,
    raw_body: bool = False,
) -> RpcSpec[Req, Rep]:
    """An operation of the public HTTP API: only the gateway calls it, for a user."""
    return rpc(subject, request, reply, callers=["gateway"], summary=summary, raw_body=raw_body)
