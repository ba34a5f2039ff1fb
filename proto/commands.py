"""Contracts of the commands domain: request/reply models, events and their subjects."""

from __future__ import annotations

from typing import Any

from proto.registry import CoreSpec, EventSpec, KvSpec, RpcSpec

SPECS: list[RpcSpec[Any, Any] | EventSpec | CoreSpec | KvSpec] = []
