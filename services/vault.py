"""AES-256-GCM for secrets at rest, with key ids, AAD binding and rotation.

Ciphertext layout: version (1 byte) | key id (2 bytes, big endian) | nonce (12) | ct+tag.
The AAD names the table, row id and column, so a ciphertext copied into another row or
column does not decrypt. Several keys may be loaded; the highest id encrypts.
Keys come from settings as `id:base64key[,id:base64key...]` and are never logged.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1
_HEADER = struct.Struct(">BH")
_NONCE = 12


class VaultError(Exception):
    """A ciphertext could not be opened. The message never contains key material."""


def aad(table: str, row_id: object, column: str) -> bytes:
    return f"{table}\x1f{row_id}\x1f{column}".encode()


def parse_keyring(spec: str) -> dict[int, bytes]:
    keys: dict[int, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, sep, b64 = item.partition(":")
        if not sep or not kid.isdigit():
            raise ValueError("vault keys must look like '1:<base64 32 bytes>,2:<...>'")
        try:
            key = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise ValueError(f"vault key {kid} is not valid base64") from None
        if len(key) != 32:
            raise ValueError(f"vault key {kid} must be 32 bytes (AES-256), not {len(key)}")
        ident = int(kid)
        if not 0 < ident < 65536:
            raise ValueError("vault key ids go from 1 to 65535")
        keys[ident] = key
    if not keys:
        raise ValueError("no vault key given")
    return keys


def format_keyring(keys: dict[int, bytes]) -> str:
    return ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in sorted(keys.items()))


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


class Vault:
    def __init__(self, keys: dict[int, bytes]) -> None:
        if not keys:
            raise ValueError("no vault key given")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current_key_id = max(keys)

    @classmethod
    def from_spec(cls, spec: str) -> Vault:
        return cls(parse_keyring(spec))

    def __repr__(self) -> str:
        return f"Vault(keys={sorted(self._ciphers)}, current={self.current_key_id})"

    def encrypt(self, plaintext: bytes | str, aad_: bytes) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(_NONCE)
        ct = self._ciphers[self.current_key_id].encrypt(nonce, data, aad_)
        return _HEADER.pack(_VERSION, self.current_key_id) + nonce + ct

    def decrypt(self, blob: bytes, aad_: bytes) -> bytes:
        if len(blob) < _HEADER.size + _NONCE + 16:
            raise VaultError("ciphertext is too short")
        version, kid = _HEADER.unpack_from(blob)
        if version != _VERSION:
            raise VaultError(f"unknown ciphertext version {version}")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise VaultError(f"ciphertext uses key {kid}, which is not loaded")
        start = _HEADER.size
        try:
            return cipher.decrypt(blob[start : start + _NONCE], blob[start + _NONCE :], aad_)
        except InvalidTag:
            raise VaultError("ciphertext failed authentication (tampered or wrong row)") from None

    def decrypt_str(self, blob: bytes, aad_: bytes) -> str:
        return self.decrypt(blob, aad_).decode()

    def key_id_of(self, blob: bytes) -> int:
        return int(_HEADER.unpack_from(blob)[1])

    def needs_rotation(self, blob: bytes) -> bool:
        return self.key_id_of(blob) != self.current_key_id

    def reencrypt(self, blob: bytes, aad_: bytes) -> bytes:
        """Open with whichever key sealed it, seal again with the current key."""
        return self.encrypt(self.decrypt(blob, aad_), aad_)
