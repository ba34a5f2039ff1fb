"""nats-py's names that services need in their own signatures and `except` clauses.

Services import them from here, so that `nats` is imported by the kernel's bus alone (an
import-linter contract) and a nats-py upgrade that moves a name is fixed in one file.
"""

from __future__ import annotations

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext as JetStream
from nats.js.errors import (
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.errors import NotFoundError as StreamNotFoundError
from nats.js.kv import KeyValue

__all__ = [
    "BucketNotFoundError",
    "JetStream",
    "KeyDeletedError",
    "KeyNotFoundError",
    "KeyValue",
    "KeyWrongLastSequenceError",
    "Msg",
    "NatsClient",
    "NatsTimeoutError",
    "NoRespondersError",
    "StreamNotFoundError",
    "Subscription",
]
