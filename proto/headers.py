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
# What the caller may do (`proto.access.Access.encode`): set by the gateway from a verified
# credential, forwarded by services with the call they make for it.
ACCESS: Final = "bc-access"
# The caller's client (`{"ip", "ua"}` JSON), on state-changing calls: for audit records.
CLIENT: Final = "bc-client"
# On a reply: the id of the audit record the change wrote.
AUDIT: Final = "bc-audit"
