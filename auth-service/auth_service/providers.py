"""Sign-in providers with authlib: Discord (OAuth2 + PKCE) and Google (OIDC + PKCE + nonce).

Every URL comes from settings (`DISCORD_BASE_URL`, `GOOGLE_ISSUER`), so the same code talks
to discord.com / accounts.google.com in production and to the discord-sandbox in tests.
Failures become `ProviderError` with a message a person can act on; never a traceback.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from auth_service.settings import Settings
from proto.errors import ErrorCode
from services.errors import RpcError


class ProviderError(RpcError):
    """A sign-in that the provider (or the person) stopped."""


@dataclass(frozen=True)
class Profile:
    provider: str
    subject: str
    email: str | None
    display_name: str
    avatar_url: str | None


def _unreachable(name: str, exc: Exception) -> ProviderError:
    return ProviderError(
        ErrorCode.UNAVAILABLE,
        f"{name} could not be reached to complete the sign-in; try again in a moment",
        details={"provider": name.lower(), "reason": type(exc).__name__},
    )


def _refused(name: str, error: str) -> ProviderError:
    if error == "invalid_grant":
        message = (
            f"{name} refused the sign-in code (it expired or was already used); "
            "please start the sign-in again"
        )
    else:
        message = f"{name} refused the sign-in ({error}); please start again"
    return ProviderError(
        ErrorCode.INVALID, message, details={"provider": name.lower(), "reason": error}
    )


class OAuthProvider:
    name: str = ""
    display_name: str = ""
    scopes: str = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout = settings.provider_timeout_s

    def _app(self) -> tuple[str, str, str]:
        """This provider's OAuth app: (client id, client secret, scope)."""
        raise NotImplementedError

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        client_id, client_secret, scope = self._app()
        return AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.timeout,
        )

    async def authorization_url(
        self, redirect_uri: str, state: str, code_verifier: str, nonce: str | None
    ) -> str:
        raise NotImplementedError

    async def profile(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str | None
    ) -> Profile:
        raise NotImplementedError

    async def _exchange(
        self, client: AsyncOAuth2Client, token_url: str, code: str, code_verifier: str
    ) -> dict[str, Any]:
        try:
            token = await client.fetch_token(
                token_url, code=code, code_verifier=code_verifier, grant_type="authorization_code"
            )
        except OAuthError as exc:
            raise _refused(self.display_name, str(exc.error or "error")) from None
        except (httpx.HTTPError, OSError) as exc:
            raise _unreachable(self.display_name, exc) from None
        except ValueError:
            raise ProviderError(
                ErrorCode.UNAVAILABLE,
                f"{self.display_name} answered the sign-in with something unexpected",
                details={"provider": self.name},
            ) from None
        return dict(token)


class Discord(OAuthProvider):
    name = "discord"
    display_name = "Discord"

    @property
    def base(self) -> str:
        return self.settings.discord_base_url.rstrip("/")

    def _app(self) -> tuple[str, str, str]:
        s = self.settings
        return s.discord_client_id, s.discord_client_secret.get_secret_value(), s.discord_scopes

    async def authorization_url(
        self, redirect_uri: str, state: str, code_verifier: str, nonce: str | None
    ) -> str:
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                f"{self.base}/oauth2/authorize", state=state, code_verifier=code_verifier
            )
        return str(url)

    async def profile(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str | None
    ) -> Profile:
        async with self._client(redirect_uri) as client:
            await self._exchange(client, f"{self.base}/api/oauth2/token", code, code_verifier)
            try:
                response = await client.get(f"{self.settings.discord_api_url}/users/@me")
            except (httpx.HTTPError, OSError) as exc:
                raise _unreachable(self.display_name, exc) from None
        if response.status_code != 200:
            raise ProviderError(
                ErrorCode.UNAVAILABLE,
                f"Discord did not return your profile (HTTP {response.status_code})",
                details={"provider": self.name},
            )
        me = response.json()
        avatar = me.get("avatar")
        return Profile(
            provider=self.name,
            subject=str(me["id"]),
            email=me.get("email") if me.get("verified", True) else None,
            display_name=str(me.get("global_name") or me.get("username") or "Discord user"),
            avatar_url=f"{self.settings.cdn_url}/avatars/{me['id']}/{avatar}.png"
            if avatar
            else None,
        )


class Google(OAuthProvider):
    name = "google"
    display_name = "Google"
    _metadata: dict[str, Any] | None = None
    _metadata_at = 0.0
    _jwks: dict[str, Any] | None = None

    @property
    def issuer(self) -> str:
        return self.settings.google_issuer.rstrip("/")

    def _app(self) -> tuple[str, str, str]:
        s = self.settings
        return s.google_client_id, s.google_client_secret.get_secret_value(), "openid email profile"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, OSError, ValueError) as exc:
            raise _unreachable(self.display_name, exc) from None
        if not isinstance(data, dict):
            raise _unreachable(self.display_name, ValueError("not an object"))
        return data

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > 3600:
            self._metadata = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            self._metadata_at = time.monotonic()
            self._jwks = None
        return self._metadata

    async def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        for attempt in range(2):
            if self._jwks is None or attempt:
                self._jwks = await self._get_json(str((await self.metadata())["jwks_uri"]))
            for key in self._jwks.get("keys", []):
                if key.get("kid") == kid:
                    return jwt.PyJWK(key)
        raise ProviderError(
            ErrorCode.INVALID,
            "Google's sign-in answer was signed with an unknown key; please start again",
            details={"provider": self.name},
        )

    async def authorization_url(
        self, redirect_uri: str, state: str, code_verifier: str, nonce: str | None
    ) -> str:
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                str(meta["authorization_endpoint"]),
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
            )
        return str(url)

    async def profile(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str | None
    ) -> Profile:
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            token = await self._exchange(client, str(meta["token_endpoint"]), code, code_verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise _refused(self.display_name, "missing_id_token")
        try:
            header = jwt.get_unverified_header(id_token)
            key = await self._signing_key(header.get("kid"))
            claims = jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256", "ES256"],
                audience=self.settings.google_client_id,
                issuer=str(meta.get("issuer", self.issuer)),
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=30,
            )
        except jwt.PyJWTError:
            raise _refused(self.display_name, "invalid_id_token") from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise _refused(self.display_name, "nonce_mismatch")
        email = claims.get("email") if claims.get("email_verified") else None
        return Profile(
            provider=self.name,
            subject=str(claims["sub"]),
            email=email,
            display_name=str(claims.get("name") or email or "Google user"),
            avatar_url=claims.get("picture"),
        )


def build_providers(settings: Settings) -> dict[str, OAuthProvider]:
    providers: dict[str, OAuthProvider] = {"discord": Discord(settings)}
    if settings.google_enabled:
        providers["google"] = Google(settings)
    return providers
