"""The identity vault's cipher: CPR numbers encrypted with AES-256-GCM.

The ciphertext is bound to the person pseudonym as associated data, so a stored
CPR cannot be moved to another person's row unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from helgenom.adapters.keys import SecretBytes
from helgenom.core.errors import IntegrityError

_VERSION = "v1"


class CprCipher:
    """Encrypts and decrypts CPR numbers for the vault."""

    def __init__(self, key: SecretBytes) -> None:
        self._aead = AESGCM(key.reveal())

    def __repr__(self) -> str:
        return "CprCipher(<key redacted>)"

    def encrypt(self, cpr_digits: str, pseudonym: str) -> str:
        """Encrypt a ten-digit CPR for the row of ``pseudonym``."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, cpr_digits.encode("ascii"), pseudonym.encode("ascii"))
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str, pseudonym: str) -> str:
        """Decrypt a stored CPR; raises IntegrityError if it was altered or moved."""
        version, _, payload = token.partition(":")
        if version != _VERSION:
            raise IntegrityError(f"vault entry of {pseudonym} has unknown format {version!r}")
        try:
            raw = base64.b64decode(payload, validate=True)
            plain = self._aead.decrypt(raw[:12], raw[12:], pseudonym.encode("ascii"))
        except (binascii.Error, InvalidTag, ValueError):
            raise IntegrityError(
                f"vault entry of {pseudonym} fails its integrity check (altered, moved, or "
                "encrypted with another CPR-encryption key)"
            ) from None
        return plain.decode("ascii")
