"""Names of the NATS headers every message may carry."""

from typing import Final

USER_ID: Final = "bc-user-id"
REQUEST_ID: Final = "bc-request-id"
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
# Marks a reply as an error envelope so the client need not parse to find out.
STATUS: Final = "bc-status"
STATUS_ERROR: Final = "error"
# JetStream de-duplication uses this header with the event id.
MSG_ID: Final = "Nats-Msg-Id"
# Metadata of a raw-body message (file bytes in the body), as the contract's JSON.
META: Final = "bc-meta"
