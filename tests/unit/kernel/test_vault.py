"""AES-256-GCM vault: round trip, tampering, AAD binding, key ids and rotation."""

from __future__ import annotations

import base64

import pytest

from services.vault import Vault, VaultError, aad, format_keyring, new_key, parse_keyring

AAD = aad("bot.bots", "row-1", "token")


def test_round_trip_and_ciphertext_is_not_the_plaintext() -> None:
    vault = Vault({1: new_key()})
    blob = vault.encrypt("MTA5.secret.token", AAD)
    assert b"secret" not in blob
    assert vault.decrypt_str(blob, AAD) == "MTA5.secret.token"
    # A fresh nonce each time: the same secret never encrypts to the same bytes.
    assert vault.encrypt("MTA5.secret.token", AAD) != blob


def test_tampered_ciphertext_is_refused() -> None:
    vault = Vault({1: new_key()})
    blob = bytearray(vault.encrypt("value", AAD))
    blob[-1] ^= 0x01
    with pytest.raises(VaultError, match="authentication"):
        vault.decrypt(bytes(blob), AAD)


def test_ciphertext_copied_to_another_row_or_column_does_not_open() -> None:
    vault = Vault({1: new_key()})
    blob = vault.encrypt("value", AAD)
    with pytest.raises(VaultError):
        vault.decrypt(blob, aad("bot.bots", "row-2", "token"))
    with pytest.raises(VaultError):
        vault.decrypt(blob, aad("bot.bots", "row-1", "other"))


def test_unknown_key_id_is_a_clear_error() -> None:
    blob = Vault({7: new_key()}).encrypt("value", AAD)
    with pytest.raises(VaultError, match="key 7"):
        Vault({1: new_key()}).decrypt(blob, AAD)


def test_rotation_keeps_old_data_readable_and_reseals_with_the_newest_key() -> None:
    k1 = new_key()
    old = Vault({1: k1})
    blob = old.encrypt("value", AAD)
    rotated = Vault({1: k1, 2: new_key()})
    assert rotated.current_key_id == 2
    assert rotated.decrypt_str(blob, AAD) == "value"
    assert rotated.needs_rotation(blob)
    resealed = rotated.reencrypt(blob, AAD)
    assert rotated.key_id_of(resealed) == 2
    assert rotated.decrypt_str(resealed, AAD) == "value"
    assert not rotated.needs_rotation(resealed)
    with pytest.raises(VaultError):
        old.decrypt(resealed, AAD)


def test_keyring_parsing_refuses_bad_keys_and_never_echoes_them() -> None:
    ring = {1: new_key(), 2: new_key()}
    assert parse_keyring(format_keyring(ring)) == ring
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(ValueError, match="32 bytes") as err:
        parse_keyring(f"1:{short}")
    assert short not in str(err.value)
    with pytest.raises(ValueError):
        parse_keyring("nonsense")
    assert "b'" not in repr(Vault(ring))
