"""The live stream: `GET /v1/stream`, events fanned out to websockets as they arrive.

`hub` follows JetStream and holds every connection's rules (filters, resume, revocation,
caps); `auth` checks credentials (access tokens, single-use tickets); `http` serves the
stream through Starlette and `fastws` through picows (the default, much cheaper per
frame); `context` is what `app.py` hands the HTTP routes.
"""
