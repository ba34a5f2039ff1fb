"""discord-sandbox: a local Discord (REST v10, Gateway v10, OAuth2 and a Google-style OIDC
issuer) that unmodified Discord client libraries talk to over real sockets."""

from .app import SandboxServer, create_app
from .cli import main
from .config import ServerConfig, Tunables

__all__ = ["SandboxServer", "ServerConfig", "Tunables", "create_app", "main"]
