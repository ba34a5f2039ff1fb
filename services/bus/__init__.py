"""The NATS bus: connection, typed RPC, JetStream events and KV helpers."""

from services.bus.connection import connect
from services.bus.rpc import RpcClient, RpcContext, RpcServer

__all__ = ["RpcClient", "RpcContext", "RpcServer", "connect"]
