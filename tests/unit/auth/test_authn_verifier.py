"""The local JWT verifier (services.authn) with an in-memory JWKS: algorithm pinning,
unknown kid refresh, revocations, the personal-token cache."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from proto.auth import ApiTokenPrincipal, Jwks
from proto.events import new_event_id
from services.authn import AccessTokenVerifier, InvalidToken, PersonalTokenCache


class Keys:
    def __init__(self) -> None:
        self.keys: list[tuple[str, ed25519.Ed25519PrivateKey]] = []
        self.fetches = 0
        self.add()

    def add(self) -> str:
        kid = uuid.uuid4().hex[:8]
        self.keys.insert(0, (kid, ed25519.Ed25519PrivateKey.generate()))
        return kid

    async def fetch(self) -> Jwks:
        self.fetches += 1
        out = []
        for kid, key in self.keys[:2]:
            jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, alg="EdDSA")
            out.append(jwk)
        return Jwks(keys=out, issuer="botcenter", audience="botcenter-api")

    def token(self, user: uuid.UUID, **over: Any) -> str:
        kid, key = self.keys[0]
        now = int(time.time())
        claims = {
            "iss": "botcenter",
            "aud": "botcenter-api",
            "sub": str(user),
            "iat": now,
            "exp": now + 60,
            "jti": str(new_event_id()),
            **over,
        }
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


async def test_valid_token_and_unknown_kid_refresh() -> None:
    keys = Keys()
    verifier = AccessTokenVerifier(keys.fetch, min_refresh_interval_s=0)
    user = uuid.uuid4()
    assert (await verifier.verify(keys.token(user))).user_id == user
    assert keys.fetches == 1
    keys.add()  # rotation: a token with a new kid makes the verifier fetch once
    assert (await verifier.verify(keys.token(user))).user_id == user
    assert keys.fetches == 2
    stranger = ed25519.Ed25519PrivateKey.generate()
    bogus = jwt.encode({"sub": "x"}, stranger, algorithm="EdDSA", headers={"kid": "zz"})
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(bogus)


async def test_unknown_kid_refresh_is_throttled() -> None:
    keys = Keys()
    verifier = AccessTokenVerifier(keys.fetch, min_refresh_interval_s=60)
    await verifier.refresh(force=True)
    other = ed25519.Ed25519PrivateKey.generate()
    for _ in range(5):
        bogus = jwt.encode({"sub": "x"}, other, algorithm="EdDSA", headers={"kid": "nope"})
        with pytest.raises(InvalidToken):
            await verifier.verify(bogus)
    assert keys.fetches == 1


async def test_sessions_revoked_refuses_older_tokens_only() -> None:
    keys = Keys()
    verifier = AccessTokenVerifier(keys.fetch)
    user = uuid.uuid4()
    old = keys.token(user)
    await verifier.verify(old)
    verifier.revoke_sessions(user, int(time.time() * 1000) + 1)
    with pytest.raises(InvalidToken, match="signed out"):
        await verifier.verify(old)
    time.sleep(0.01)
    assert (await verifier.verify(keys.token(user))).user_id == user
    assert (await verifier.verify(keys.token(uuid.uuid4()))).user_id != user


async def test_personal_token_cache_and_revocation() -> None:
    calls: list[str] = []
    principal = ApiTokenPrincipal(user_id=uuid.uuid4(), token_id=uuid.uuid4(), scopes=["bots:read"])

    async def check(token: str) -> ApiTokenPrincipal:
        calls.append(token)
        return principal

    cache = PersonalTokenCache(check, ttl_s=60)
    assert await cache.resolve("bcp_a") == principal
    assert await cache.resolve("bcp_a") == principal
    assert len(calls) == 1
    cache.drop_token(principal.token_id)
    assert cache.is_revoked(principal.token_id)
    await cache.resolve("bcp_a")
    assert len(calls) == 2  # asked again, and not cached while the revocation is fresh
    await cache.resolve("bcp_a")
    assert len(calls) == 3


async def test_a_retired_key_is_refused_at_once_and_never_taken_back() -> None:
    keys = Keys()
    verifier = AccessTokenVerifier(keys.fetch, min_refresh_interval_s=0)
    user = uuid.uuid4()
    leaked = keys.keys[0][0]
    token = keys.token(user)
    assert (await verifier.verify(token)).user_id == user  # cached from now on
    verifier.retire_key(leaked)
    with pytest.raises(InvalidToken, match="retired key"):
        await verifier.verify(token)
    # An auth replica that has not reloaded yet still publishes it: not taken back.
    await verifier.refresh(force=True)
    assert leaked not in verifier.key_ids
    with pytest.raises(InvalidToken, match="retired key"):
        await verifier.verify(token)
    # Tokens of the other keys are unaffected.
    keys.add()
    assert (await verifier.verify(keys.token(user))).user_id == user


async def test_a_cached_token_goes_with_its_key_when_the_jwks_drops_it() -> None:
    """A process that missed the retirement signal: its next JWKS no longer lists the key
    (auth-service stopped publishing it), and the cached answer is not used any more."""
    keys = Keys()
    verifier = AccessTokenVerifier(keys.fetch, min_refresh_interval_s=0)
    user = uuid.uuid4()
    token = keys.token(user)
    assert (await verifier.verify(token)).user_id == user
    keys.keys.pop(0)  # auth-service retired it and publishes only the others
    keys.add()
    await verifier.refresh(force=True)
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(token)


async def test_an_announced_key_missing_from_a_stale_jwks_is_fetched_on_first_use() -> None:
    """After a retirement a new key signs at once; the announcement's refreshes may all be
    answered by an auth replica that has not reloaded yet. The first token signed with the
    announced key must then fetch the JWKS again, not wait out the refresh throttle —
    while unannounced kids stay throttled."""
    keys = Keys()
    hidden: set[str] = set()

    async def fetch() -> Jwks:  # `hidden`: what the replica that has not reloaded lacks
        jwks = await keys.fetch()
        jwks.keys = [k for k in jwks.keys if k["kid"] not in hidden]
        return jwks

    verifier = AccessTokenVerifier(fetch, min_refresh_interval_s=60)
    await verifier.refresh(force=True)
    new_kid = keys.add()
    hidden.add(new_kid)
    assert not await verifier.key_published(new_kid, attempts=2, pause_s=0)
    hidden.clear()  # it has reloaded now
    user = uuid.uuid4()
    assert (await verifier.verify(keys.token(user))).user_id == user

    fetches = keys.fetches
    other = ed25519.Ed25519PrivateKey.generate()
    bogus = jwt.encode({"sub": "x"}, other, algorithm="EdDSA", headers={"kid": "nope"})
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(bogus)
    assert keys.fetches == fetches
