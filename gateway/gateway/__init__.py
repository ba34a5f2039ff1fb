"""botcenter gateway: the public HTTP edge. Each request becomes one NATS RPC."""

__version__ = "0.1.0"
