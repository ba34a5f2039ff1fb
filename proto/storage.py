"""Contracts of the storage domain: request/reply models, events and their subjects."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from proto.base import Contract
from proto.registry import CoreSpec, EventSpec, KvSpec, RpcSpec, rpc


class ConfigRef(Contract):
    file_id: UUID


class ConfigDocument(Contract):
    """A stored config file of the calling user, already parsed (JSON or safe YAML)."""

    file_id: UUID
    name: str
    document: dict[str, Any]


READ_CONFIG = rpc(
    "rpc.storage.config.read",
    ConfigRef,
    ConfigDocument,
    callers=["command"],
    summary="the parsed content of a config file of the calling user (404 if not theirs)",
)

SPECS: list[RpcSpec[Any, Any] | EventSpec | CoreSpec | KvSpec] = [READ_CONFIG]
