"""botcenter contracts: one pydantic model per NATS message, the subject registry, error codes.

This package imports nothing else of the project; services and the kernel import it.
"""

from proto.base import Contract, Empty
from proto.catalog import REGISTRY
from proto.errors import ErrorCode, ErrorEnvelope
from proto.registry import EventSpec, Registry, RpcSpec

__all__ = [
    "REGISTRY",
    "Contract",
    "Empty",
    "ErrorCode",
    "ErrorEnvelope",
    "EventSpec",
    "Registry",
    "RpcSpec",
]
