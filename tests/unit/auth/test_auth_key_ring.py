"""Publish-then-use rotation rules of auth-service's KeyRing (no database: keys set
directly) and the verifier's reactions to a rotation signal and a one-session sign-out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auth_service.keys import KeyRing, SigningKey
from auth_service.settings import Settings
from services.authn import AccessTokenVerifier, InvalidToken
from tests.unit.auth.test_authn_verifier import Keys


def _key(kid: str, active_from: float) -> SigningKey:
    return SigningKey(
        kid,
        "EdDSA",
        ed25519.Ed25519PrivateKey.generate(),
        {"kid": kid, "alg": "EdDSA"},
        datetime.now(UTC),
        active_from,
    )


def _ring(*keys: SigningKey, access_ttl_s: float = 900) -> KeyRing:
    ring = KeyRing(None, None, alg="EdDSA", rotation_days=30, access_ttl_s=access_ttl_s)  # type: ignore[arg-type]
    ring._keys = sorted(keys, key=lambda k: k.active_from, reverse=True)
    return ring


def test_pending_key_is_published_but_does_not_sign() -> None:
    now = time.time()
    ring = _ring(_key("next", now + 30), _key("cur", now - 100), _key("prev", now - 5000))
    assert ring.current.kid == "cur"
    assert [k["kid"] for k in ring.public_keys()] == ["next", "cur", "prev"]
    assert [k.kid for k in ring.pending] == ["next"]


def test_key_signs_once_its_time_has_come() -> None:
    now = time.time()
    ring = _ring(_key("next", now - 0.01), _key("cur", now - 100))
    assert ring.current.kid == "next"
    assert ring.pending == []


def test_retired_keys_stay_published_while_their_tokens_live() -> None:
    now = time.time()
    # k1 retired 10 min ago (k2 took over): its tokens live 15 min, so it stays;
    # k0 retired 2 h ago: gone.
    ring = _ring(
        _key("k3", now - 60),
        _key("k2", now - 600),
        _key("k1", now - 7200),
        _key("k0", now - 90000),
    )
    assert [k["kid"] for k in ring.public_keys()] == ["k3", "k2", "k1"]
    short = _ring(
        _key("k3", now - 60), _key("k2", now - 600), _key("k1", now - 7200), access_ttl_s=60
    )
    assert [k["kid"] for k in short.public_keys()] == ["k3", "k2"]  # always the previous one


def test_activation_delay_cannot_be_shorter_than_the_reload_interval() -> None:
    with pytest.raises(ValueError, match="AUTH_KEY_ACTIVATION_S"):
        Settings(key_refresh_s=30, key_activation_s=10)
    assert Settings(key_refresh_s=30).activation_delay_s >= 30
    assert Settings(key_refresh_s=1, key_activation_s=3).activation_delay_s == 3


async def test_rotation_signal_retries_until_the_new_kid_is_served() -> None:
    keys = Keys()
    served: list[Any] = []

    async def stale_then_fresh() -> Any:
        # The first answer comes from a replica that has not reloaded yet.
        jwks = await keys.fetch()
        if not served:
            jwks = jwks.model_copy(update={"keys": jwks.keys[1:]})
        served.append(jwks)
        return jwks

    verifier = AccessTokenVerifier(stale_then_fresh, min_refresh_interval_s=60)
    new_kid = keys.add()
    assert await verifier.key_published(new_kid, pause_s=0.01)
    assert len(served) == 2
    assert new_kid in verifier.key_ids


async def test_one_session_signed_out_leaves_the_others() -> None:
    keys = Keys()
    verifier = AccessTokenVerifier(keys.fetch)
    user, gone, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old = keys.token(user, sid=str(gone))
    other = keys.token(user, sid=str(kept))
    assert (await verifier.verify(old)).session_id == gone  # cached now
    verifier.revoke_session(gone)
    with pytest.raises(InvalidToken, match="signed out"):
        await verifier.verify(old)
    with pytest.raises(InvalidToken, match="signed out"):
        await verifier.verify(keys.token(user, sid=str(gone)))
    assert (await verifier.verify(other)).session_id == kept
