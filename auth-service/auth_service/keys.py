"""Signing keys for access JWTs: stored sealed in the database, shared by every replica.

The newest key signs; the JWKS publishes it and the previous one, so tokens signed just
before a rotation stay valid until they expire. A key older than `key_rotation_days` is
replaced at start-up or on the periodic refresh (an advisory lock keeps replicas from
creating two at once); `rpc.auth.keys.rotate` rotates on demand.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
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


def _new_key(alg: str) -> tuple[PrivateKey, dict[str, Any]]:
    private: PrivateKey
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    return private, jwk


class KeyRing:
    def __init__(self, db: Database, vault: Vault, *, alg: str, rotation_days: float) -> None:
        self.db = db
        self.vault = vault
        self.alg = alg
        self.rotation = timedelta(days=rotation_days)
        self._keys: list[SigningKey] = []
        self.loaded_at = 0.0

    @property
    def current(self) -> SigningKey:
        if not self._keys:
            raise RuntimeError("signing keys are not loaded")
        return self._keys[0]

    def public_keys(self) -> list[dict[str, Any]]:
        return [k.public_jwk for k in self._keys]

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})

    async def load(self, *, force_new: bool = False) -> None:
        """Read the two newest keys; create a new one when none is young enough."""
        async with self.db.system_scope() as s:
            rows = await repo.signing_key_rows(s)
            if force_new or not rows or _too_old(rows[0].created_at, self.rotation):
                await repo.lock_keys(s)
                rows = await repo.signing_key_rows(s)
                if force_new or not rows or _too_old(rows[0].created_at, self.rotation):
                    await self._create(s)
                    rows = await repo.signing_key_rows(s)
        self._keys = [self._open(r) for r in rows]
        self.loaded_at = time.monotonic()

    async def _create(self, s: Any) -> None:
        kid = uuid.uuid4().hex[:16]
        private, jwk = _new_key(self.alg)
        jwk.update({"kid": kid, "alg": self.alg, "use": "sig"})
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        sealed = self.vault.encrypt(pem, aad("auth.signing_keys", kid, "private_key"))
        await repo.insert_signing_key(s, kid=kid, alg=self.alg, private_key=sealed, public_jwk=jwk)
        log.info("created a new signing key", extra={"kid": kid, "alg": self.alg})

    def _open(self, row: Any) -> SigningKey:
        pem = self.vault.decrypt(
            bytes(row.private_key), aad("auth.signing_keys", row.kid, "private_key")
        )
        private = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
        return SigningKey(row.kid, row.alg, private, dict(row.public_jwk), row.created_at)


def _too_old(created_at: datetime, rotation: timedelta) -> bool:
    return datetime.now(UTC) - created_at > rotation
