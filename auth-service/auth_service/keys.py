"""Signing keys for access JWTs: stored sealed in the database, shared by every replica.

Rotation is publish-then-use. A new key is created *pending*: it is in the JWKS at once
(next + current + previous) but signs only from its `active_from`, `key_activation_s`
after creation. Every replica reloads its keys at least every `key_refresh_s` (and at
once on `ctl.auth.keys_rotated`), and the activation delay is at least that interval, so
by the time any replica signs with the new key every replica publishes it, and a gateway
that meets the new `kid` finds it on its one refresh. Time-based rather than "every
replica confirmed": replicas come and go, a dead one would block rotation forever, and
the bound is already guaranteed by the reload interval.

Every replica switches at the same moment without reloading: `current` is the newest key
whose `active_from` (database clock, corrected by the offset measured at load) has come.
An older key stays published while tokens it signed can still be valid (until its
successor's activation + access TTL), at least the one previous key.

A key older than `key_rotation_days` is replaced at start-up or on the periodic reload
(an advisory lock keeps replicas from creating two at once); `rpc.auth.keys.rotate`
rotates on demand (a no-op while a key is already pending).

A leaked key is retired at once (`rpc.auth.keys.retire`, `botcenter keys retire`): it is
marked `retired_at`, never loaded again, and a new key signs immediately if it was the
signing one; `ctl.auth.key_retired` makes every replica reload and every verifier drop
the key (see `services.authn`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import KW_ONLY, InitVar, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from auth_service import repository as repo
from services.db.engine import Database
from services.vault import Vault, aad

log = logging.getLogger(__name__)

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey
    public_jwk: dict[str, Any]
    created_at: datetime
    active_from: float  # epoch seconds, database clock


def _new_key(alg: str) -> tuple[PrivateKey, dict[str, Any]]:
    private: PrivateKey
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    return private, jwk


@dataclass(eq=False)
class KeyRing:
    db: Database
    vault: Vault
    _: KW_ONLY
    alg: str
    rotation_days: InitVar[float]
    activation_s: float = 0.0
    access_ttl_s: InitVar[float] = 900.0
    rotation: timedelta = field(init=False)
    # A retired key stays published this long after its successor started signing.
    retain_s: float = field(init=False)
    # newest activation first
    _keys: list[SigningKey] = field(default_factory=list, init=False, repr=False)
    # database clock - local clock
    _clock_offset: float = field(default=0.0, init=False, repr=False)
    # kid -> decrypted key (keys never change)
    _opened: dict[str, SigningKey] = field(default_factory=dict, init=False, repr=False)
    loaded_at: float = field(default=0.0, init=False)

    def __post_init__(self, rotation_days: float, access_ttl_s: float) -> None:
        self.rotation = timedelta(days=rotation_days)
        self.retain_s = access_ttl_s + 60.0

    def now(self) -> float:
        """Epoch seconds on the database's clock (the clock `active_from` is on)."""
        return time.time() + self._clock_offset

    @property
    def current(self) -> SigningKey:
        if not self._keys:
            raise RuntimeError("signing keys are not loaded")
        now = self.now()
        for key in self._keys:
            if key.active_from <= now:
                return key
        return self._keys[-1]  # only pending keys (cannot happen: the first key is active)

    @property
    def known_kids(self) -> set[str]:
        return {k.kid for k in self._keys}

    @property
    def pending(self) -> list[SigningKey]:
        now = self.now()
        return [k for k in self._keys if k.active_from > now]

    def published(self) -> list[SigningKey]:
        """Pending keys, the current key, and older keys whose tokens may still be valid."""
        now = self.now()
        out: list[SigningKey] = []
        successor_from: float | None = None  # when the next newer active key took over
        active_seen = 0
        for key in self._keys:
            if key.active_from > now:
                out.append(key)
                continue
            if active_seen < 2 or (
                successor_from is not None and successor_from > now - self.retain_s
            ):
                out.append(key)
            active_seen += 1
            successor_from = key.active_from
        return out

    def public_keys(self) -> list[dict[str, Any]]:
        return [k.public_jwk for k in self.published()]

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})

    async def load(self, *, force_new: bool = False) -> SigningKey | None:
        """Read the newest keys; create a pending one when none is young enough (or on
        `force_new`, unless one is already pending). Returns the key created, if any."""
        created: SigningKey | None = None
        async with self.db.system_scope() as s:
            rows = await repo.signing_key_rows(s)
            if self._needs_key(rows, force_new):
                await repo.lock_keys(s)
                rows = await repo.signing_key_rows(s)
                if self._needs_key(rows, force_new):
                    # The very first key signs at once: nobody can hold a token yet.
                    kid = await self._create(s, active_in_s=self.activation_s if rows else 0.0)
                    rows = await repo.signing_key_rows(s)
                    created = next((self._open(r) for r in rows if r.kid == kid), None)
        if rows:
            self._clock_offset = rows[0].db_now.timestamp() - time.time()
        self._keys = [self._open(r) for r in rows]
        self._opened = {k.kid: k for k in self._keys}
        self.loaded_at = time.monotonic()
        return created

    async def retire(self, kid: str) -> SigningKey:
        """Retire `kid` at once (a leaked key): it is no longer loaded, published or used.
        When it was the signing key, a new key signs at once — no publish-then-use delay:
        waiting would keep signing with a key an attacker holds; verifiers that have not
        seen the new key yet fetch it on its first token (unknown `kid`) or on the
        `ctl.auth.key_retired` signal. Returns the key that signs from now on; KeyError
        when `kid` is not a key in use."""
        async with self.db.system_scope() as s:
            await repo.lock_keys(s)
            rows = await repo.signing_key_rows(s)
            active = [r for r in rows if r.active_from <= r.db_now]
            signing = bool(active) and active[0].kid == kid
            if not await repo.retire_signing_key(s, kid):
                raise KeyError(kid)
            if signing or not [r for r in active if r.kid != kid]:
                await self._create(s, active_in_s=0.0)
        log.warning("retired a signing key", extra={"kid": kid, "was_signing": signing})
        await self.load()
        return self.current

    @staticmethod
    def _pending_rows(rows: Any) -> bool:
        return any(r.active_from > r.db_now for r in rows)

    def _needs_key(self, rows: Any, force_new: bool) -> bool:
        if not rows:
            return True
        if self._pending_rows(rows):
            return False
        newest = max(r.created_at for r in rows)
        return force_new or _too_old(newest, self.rotation)

    async def _create(self, s: Any, *, active_in_s: float) -> str:
        kid = uuid.uuid4().hex[:16]
        private, jwk = _new_key(self.alg)
        jwk.update({"kid": kid, "alg": self.alg, "use": "sig"})
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        sealed = self.vault.encrypt(pem, aad("auth.signing_keys", kid, "private_key"))
        await repo.insert_signing_key(
            s,
            active_in_s=active_in_s,
            kid=kid,
            alg=self.alg,
            private_key=sealed,
            public_jwk=jwk,
        )
        log.info(
            "created a new signing key",
            extra={"kid": kid, "alg": self.alg, "active_in_s": active_in_s},
        )
        return kid

    def _open(self, row: Any) -> SigningKey:
        known = self._opened.get(row.kid)
        if known is not None:
            return known
        pem = self.vault.decrypt(
            bytes(row.private_key), aad("auth.signing_keys", row.kid, "private_key")
        )
        private = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
        return SigningKey(
            row.kid,
            row.alg,
            private,
            dict(row.public_jwk),
            row.created_at,
            row.active_from.timestamp(),
        )


def _too_old(created_at: datetime, rotation: timedelta) -> bool:
    return datetime.now(UTC) - created_at > rotation
