"""`python -m discord_sandbox.healthcheck [PORT]`: exit 0 when the local sandbox answers
`/_sandbox/health` over http or (self-signed) https — for container HEALTHCHECKs. The port
defaults to `SANDBOX_PORT`, else 8790."""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.request


def healthy(port: int) -> bool:
    # The check talks to its own container's loopback; the certificate is our self-signed one.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(  # noqa: S310 - fixed loopback URL
                f"{scheme}://127.0.0.1:{port}/_sandbox/health", timeout=2, context=context
            ) as response:
                if response.status == 200 and json.loads(response.read()).get("status") == "ok":
                    return True
        except (OSError, ValueError):
            continue
    return False


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("SANDBOX_PORT") or 8790)
    sys.exit(0 if healthy(port) else 1)
