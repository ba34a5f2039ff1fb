"""OAuth clients, authorization codes and tokens shared by the Discord and Google providers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_CLIENT_ID = "botcenter-local"
DEFAULT_CLIENT_SECRET = "botcenter-local-secret"  # noqa: S105 - a documented local-only default
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def is_loopback_redirect(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS


@dataclass(slots=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    any_loopback: bool = False  # the built-in client accepts any loopback redirect
    name: str = "Sandbox OAuth client"

    def allows(self, redirect_uri: str) -> bool:
        if self.any_loopback and is_loopback_redirect(redirect_uri):
            return True
        return redirect_uri in self.redirect_uris

    def check_secret(self, secret: str | None) -> bool:
        return secret is not None and hmac.compare_digest(secret, self.client_secret)


@dataclass(slots=True)
class AuthCode:
    code: str
    provider: str  # "discord" | "google"
    client_id: str
    user_id: int
    redirect_uri: str
    scopes: list[str]
    expires_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    used: bool = False
    issued_tokens: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    provider: str
    client_id: str
    user_id: int
    scopes: list[str]
    expires_at: float
    nonce: str | None = None


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


def verify_pkce(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    if challenge is None:
        return True
    if not verifier:
        return False
    if (method or "plain") == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return hmac.compare_digest(computed, challenge)
    return hmac.compare_digest(verifier, challenge)


class OAuthStore:
    def __init__(self) -> None:
        self.clients: dict[str, OAuthClient] = {
            DEFAULT_CLIENT_ID: OAuthClient(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                any_loopback=True,
                name="botcenter (local)",
            )
        }
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, TokenGrant] = {}
        self.refresh: dict[str, TokenGrant] = {}
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)

    # ---------------------------------------------------------------- clients
    def register(
        self, redirect_uris: list[str], client_id: str | None, client_secret: str | None
    ) -> OAuthClient:
        client = OAuthClient(
            client_id=client_id or secrets.token_hex(9),
            client_secret=client_secret or secrets.token_urlsafe(24),
            redirect_uris=list(redirect_uris),
        )
        self.clients[client.client_id] = client
        return client

    def client(self, client_id: str | None) -> OAuthClient | None:
        return self.clients.get(client_id or "")

    # ------------------------------------------------------------------ codes
    def issue_code(self, code: AuthCode) -> str:
        self.codes[code.code] = code
        self._prune()
        return code.code

    def redeem_code(self, value: str, client: OAuthClient, provider: str) -> AuthCode:
        code = self.codes.get(value)
        if code is None or code.provider != provider or code.client_id != client.client_id:
            raise OAuthError("invalid_grant", 'Invalid "code" in request.')
        if code.used:
            # A replayed code revokes what it produced (RFC 6749 §4.1.2).
            for token in code.issued_tokens:
                self.revoke(token)
            raise OAuthError("invalid_grant", 'Invalid "code" in request.')
        if time.time() >= code.expires_at:
            raise OAuthError("invalid_grant", 'Invalid "code" in request.')
        code.used = True
        return code

    # ----------------------------------------------------------------- tokens
    def issue_tokens(
        self,
        provider: str,
        client_id: str,
        user_id: int,
        scopes: list[str],
        ttl_s: int,
        nonce: str | None = None,
    ) -> TokenGrant:
        grant = TokenGrant(
            access_token=secrets.token_urlsafe(30),
            refresh_token=secrets.token_urlsafe(30),
            provider=provider,
            client_id=client_id,
            user_id=user_id,
            scopes=scopes,
            expires_at=time.time() + ttl_s,
            nonce=nonce,
        )
        self.access[grant.access_token] = grant
        self.refresh[grant.refresh_token] = grant
        return grant

    def rotate(
        self, refresh_token: str, client: OAuthClient, provider: str, ttl_s: int
    ) -> TokenGrant:
        grant = self.refresh.pop(refresh_token, None)
        if grant is None or grant.client_id != client.client_id or grant.provider != provider:
            raise OAuthError("invalid_grant", 'Invalid "refresh_token" in request.')
        self.access.pop(grant.access_token, None)
        return self.issue_tokens(provider, client.client_id, grant.user_id, grant.scopes, ttl_s)

    def bearer(self, access_token: str, provider: str | None = None) -> TokenGrant | None:
        grant = self.access.get(access_token)
        if grant is None or time.time() >= grant.expires_at:
            return None
        if provider is not None and grant.provider != provider:
            return None
        return grant

    def revoke(self, token: str) -> None:
        grant = self.access.pop(token, None) or self.refresh.pop(token, None)
        if grant is not None:
            self.access.pop(grant.access_token, None)
            self.refresh.pop(grant.refresh_token, None)

    def public_jwk(self) -> dict[str, Any]:
        numbers = self.signing_key.public_key().public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.key_id,
            "n": b64(numbers.n),
            "e": b64(numbers.e),
        }

    def signing_key_pem(self) -> str:
        return self.signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def load_signing_key(self, pem: str, key_id: str) -> None:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            self.signing_key = key
            self.key_id = key_id

    def _prune(self) -> None:
        if len(self.codes) < 1000:
            return
        now = time.time()
        for key in [k for k, c in self.codes.items() if c.expires_at < now - 60]:
            del self.codes[key]
