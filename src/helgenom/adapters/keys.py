"""Key material as files of mode 0600 in the instance's keys folder.

The keys live outside the catalog so that a copy of the database alone reveals
nothing. Symmetric keys are stored as::

    HELGENOM-KEY v1 <name>
    <base64 of 32 random bytes>

The platform's Crypt4GH key pair uses the crypt4gh tool's own file format, and the
token-signing key is a PEM-encoded EC P-256 private key (ES256 JWTs).
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from helgenom.adapters.files import fsync_dir, write_private
from helgenom.core.errors import ConfigurationError, IntegrityError

KEY_BYTES = 32
_MAGIC = "HELGENOM-KEY v1"


class KeyName(enum.StrEnum):
    """The instance's keys, by file name."""

    PSEUDONYM = "pseudonym.key"
    AUDIT = "audit.key"
    CPR = "cpr-encryption.key"
    TOKEN_SIGNING = "token-signing.pem"  # noqa: S105 - a file name, not a secret
    CRYPT4GH_SECRET = "platform.c4gh.sec"  # noqa: S105 - a file name, not a secret
    CRYPT4GH_PUBLIC = "platform.c4gh.pub"
    CRYPT4GH_NEXT_SECRET = "platform.c4gh.next.sec"  # noqa: S105 - a file name
    CRYPT4GH_NEXT_PUBLIC = "platform.c4gh.next.pub"


SYMMETRIC_KEYS = (KeyName.PSEUDONYM, KeyName.AUDIT, KeyName.CPR)
SECRET_KEYS = (*SYMMETRIC_KEYS, KeyName.TOKEN_SIGNING, KeyName.CRYPT4GH_SECRET)
INSTANCE_KEYS = (*SECRET_KEYS, KeyName.CRYPT4GH_PUBLIC)
"""The key files every instance has (the ``next`` pair exists only during a rotation)."""
RETIRED_DIR = "retired"
"""Sub-folder of retired Crypt4GH key pairs, named by key id."""
IRREPLACEABLE_KEYS = (*SYMMETRIC_KEYS, KeyName.CRYPT4GH_SECRET)
"""Keys whose loss cannot be repaired by making a new one: data depends on them."""


class SecretBytes:
    """Bytes that never show themselves in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        """Return the secret bytes (only where they are used)."""
        return self._value

    def __repr__(self) -> str:
        return "SecretBytes(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """Health of one key file."""

    name: str
    """Key file name."""
    ok: bool
    """Present, parseable and private."""
    detail: str
    """What is wrong, or ``ok``."""


def _c4gh_string(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


class KeyStore:
    """The keys folder of an instance."""

    def __init__(self, keys_path: Path) -> None:
        self.keys_path = keys_path

    def path(self, name: KeyName) -> Path:
        """The file of key ``name``."""
        return self.keys_path / name.value

    def generate_missing(self) -> list[KeyName]:
        """Create every key that does not exist yet; never overwrite one. Returns those made."""
        self.keys_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.keys_path, 0o700)
        made: list[KeyName] = []
        for name in SYMMETRIC_KEYS:
            if not self.path(name).exists():
                encoded = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
                text = f"{_MAGIC} {name.value}\n{encoded}\n"
                write_private(self.path(name), text.encode("ascii"), overwrite=False)
                made.append(name)
        if not self.path(KeyName.TOKEN_SIGNING).exists():
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            private = ec.generate_private_key(ec.SECP256R1())
            pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_private(self.path(KeyName.TOKEN_SIGNING), pem, overwrite=False)
            made.append(KeyName.TOKEN_SIGNING)
        sec, pub = self.path(KeyName.CRYPT4GH_SECRET), self.path(KeyName.CRYPT4GH_PUBLIC)
        if not sec.exists():
            made.extend(self._generate_crypt4gh(sec, pub))
        return made

    def _generate_crypt4gh(self, sec: Path, pub: Path) -> list[KeyName]:
        write_crypt4gh_keypair(sec, pub)
        return [KeyName.CRYPT4GH_SECRET, KeyName.CRYPT4GH_PUBLIC]

    def _check_private(self, name: KeyName) -> Path:
        path = self.path(name)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise ConfigurationError(
                f"key file {path} is missing; restore it from your key backup "
                "(a new key would orphan all data protected by the old one)"
            ) from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(
                f"key file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"fix with: chmod 600 {path}"
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ConfigurationError(
                f"key file {path} is owned by another user; it must belong to the user running "
                "helgenom"
            )
        return path

    def load_symmetric(self, name: KeyName) -> SecretBytes:
        """Load a 32-byte symmetric key, checking permissions and format."""
        path = self._check_private(name)
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        if len(lines) != 2 or lines[0] != f"{_MAGIC} {name.value}":
            raise IntegrityError(
                f"key file {path} is corrupt (bad header); restore it from your key backup"
            )
        try:
            value = base64.b64decode(lines[1], validate=True)
        except binascii.Error:
            raise IntegrityError(
                f"key file {path} is corrupt (not base64); restore it from your key backup"
            ) from None
        if len(value) != KEY_BYTES:
            raise IntegrityError(
                f"key file {path} is corrupt (expected {KEY_BYTES} bytes, got {len(value)}); "
                "restore it from your key backup"
            )
        return SecretBytes(value)

    def load_token_signing_pem(self) -> SecretBytes:
        """Load the token-signing private key (PEM), checking it parses."""
        from cryptography.hazmat.primitives import serialization

        path = self._check_private(KeyName.TOKEN_SIGNING)
        data = path.read_bytes()
        try:
            serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise IntegrityError(
                f"key file {path} is corrupt (not a PEM private key); restore it from backup"
            ) from None
        return SecretBytes(data)

    def load_crypt4gh_secret(self) -> SecretBytes:
        """Load the platform's Crypt4GH secret key (32 raw bytes)."""
        return self._read_c4gh_secret(self._check_private(KeyName.CRYPT4GH_SECRET))

    def read_crypt4gh_secret_file(self, path: Path) -> SecretBytes:
        """Read any unencrypted Crypt4GH secret key file (e.g. a recipient's, in tests)."""
        return self._read_c4gh_secret(path)

    def _read_c4gh_secret(self, path: Path) -> SecretBytes:
        lines = path.read_bytes().strip().splitlines()
        problem = "not a Crypt4GH private key"
        try:
            if len(lines) == 3 and lines[0] == b"-----BEGIN CRYPT4GH PRIVATE KEY-----":
                blob = base64.b64decode(lines[1], validate=True)
                unencrypted = b"c4gh-v1" + _c4gh_string(b"none") + _c4gh_string(b"none")
                if blob.startswith(unencrypted):
                    rest = blob[len(unencrypted) :]
                    length = int.from_bytes(rest[:2], "big")
                    if length == KEY_BYTES and len(rest) >= 2 + KEY_BYTES:
                        return SecretBytes(rest[2 : 2 + KEY_BYTES])
                else:
                    problem = "passphrase-protected Crypt4GH keys are not supported here"
        except binascii.Error:
            pass
        raise IntegrityError(f"key file {path} is corrupt ({problem}); restore it from backup")

    def load_crypt4gh_public(self) -> bytes:
        """Load the platform's Crypt4GH public key (32 raw bytes)."""
        return self._read_c4gh_public(self.path(KeyName.CRYPT4GH_PUBLIC))

    def _read_c4gh_public(self, path: Path) -> bytes:
        try:
            lines = path.read_bytes().strip().splitlines()
            value = base64.b64decode(lines[1], validate=True)
        except FileNotFoundError:
            raise ConfigurationError(f"public key file {path} is missing") from None
        except (IndexError, binascii.Error):
            raise IntegrityError(f"public key file {path} is corrupt") from None
        if len(value) != KEY_BYTES:
            raise IntegrityError(f"public key file {path} is corrupt")
        return value

    def check(self) -> list[KeyCheck]:
        """Check every key: present, private, parseable. Never raises for a bad key."""
        checks: list[KeyCheck] = []
        loaders = {
            KeyName.TOKEN_SIGNING: self.load_token_signing_pem,
            KeyName.CRYPT4GH_SECRET: self.load_crypt4gh_secret,
        }
        for name in SECRET_KEYS:
            try:
                if name in loaders:
                    loaders[name]()
                else:
                    self.load_symmetric(name)
                checks.append(KeyCheck(name.value, True, "ok (mode 0600)"))
            except (ConfigurationError, IntegrityError) as exc:
                checks.append(KeyCheck(name.value, False, str(exc)))
        pub = self.path(KeyName.CRYPT4GH_PUBLIC)
        checks.append(
            KeyCheck(pub.name, pub.exists(), "ok (public)" if pub.exists() else f"{pub} missing")
        )
        return checks

    # -- Crypt4GH key pairs: active, next (during a rotation) and retired ---------------------

    def crypt4gh_pairs(self) -> tuple[tuple[SecretBytes, bytes], list[tuple[SecretBytes, bytes]]]:
        """The active pair, and every other pair that may still open a header.

        Others are the retired pairs and, while a rotation is under way, the next one.
        """
        # Public keys are derived from the secrets, so a pair can never be mismatched.
        active_secret = self.load_crypt4gh_secret()
        active = (active_secret, crypt4gh_public_of(active_secret))
        others: list[tuple[SecretBytes, bytes]] = []
        nxt = self.path(KeyName.CRYPT4GH_NEXT_SECRET)
        if nxt.exists():
            self._check_private(KeyName.CRYPT4GH_NEXT_SECRET)
            secret = self._read_c4gh_secret(nxt)
            others.append((secret, crypt4gh_public_of(secret)))
        retired = self.keys_path / RETIRED_DIR
        if retired.is_dir():
            for sec in sorted(retired.glob("*.c4gh.sec")):
                secret = self._read_c4gh_secret(sec)
                others.append((secret, crypt4gh_public_of(secret)))
        return active, others

    def begin_crypt4gh_rotation(self) -> bytes:
        """Create the next platform key pair (or keep the one an interrupted rotation made).

        Returns the next public key.
        """
        sec, pub = self.path(KeyName.CRYPT4GH_NEXT_SECRET), self.path(KeyName.CRYPT4GH_NEXT_PUBLIC)
        if not sec.exists():
            pub.unlink(missing_ok=True)
            self._generate_crypt4gh(sec, pub)
        return self._read_c4gh_public(pub)

    def finish_crypt4gh_rotation(self, retired_id: str) -> None:
        """Retire the active pair (kept under ``retired/``) and make the next pair active."""
        sec, pub = self.path(KeyName.CRYPT4GH_SECRET), self.path(KeyName.CRYPT4GH_PUBLIC)
        nsec = self.path(KeyName.CRYPT4GH_NEXT_SECRET)
        npub = self.path(KeyName.CRYPT4GH_NEXT_PUBLIC)
        retired = self.keys_path / RETIRED_DIR
        retired.mkdir(mode=0o700, exist_ok=True)
        rsec, rpub = retired / f"{retired_id}.c4gh.sec", retired / f"{retired_id}.c4gh.pub"
        if not rsec.exists():
            write_private(rsec, sec.read_bytes(), overwrite=False)
        if not rpub.exists():
            rpub.write_bytes(pub.read_bytes())
        # The secret decides (public keys are derived from it): switch it first.
        os.replace(nsec, sec)
        if npub.exists():
            os.replace(npub, pub)
        fsync_dir(self.keys_path)


def write_crypt4gh_keypair(sec: Path, pub: Path) -> None:
    """Write an unencrypted Crypt4GH key pair in the crypt4gh tool's file format.

    The secret file is created with mode 0600 and never overwritten. Done here rather
    than with ``crypt4gh.keys.c4gh.generate``, which logs the private key at DEBUG level.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private = X25519PrivateKey.generate()
    raw_secret = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    blob = (
        b"c4gh-v1"
        + _c4gh_string(b"none")
        + _c4gh_string(b"none")
        + _c4gh_string(raw_secret)
        + _c4gh_string(b"helgenom platform key")
    )
    sec_text = (
        b"-----BEGIN CRYPT4GH PRIVATE KEY-----\n"
        + base64.b64encode(blob)
        + b"\n-----END CRYPT4GH PRIVATE KEY-----\n"
    )
    pub_text = (
        b"-----BEGIN CRYPT4GH PUBLIC KEY-----\n"
        + base64.b64encode(raw_public)
        + b"\n-----END CRYPT4GH PUBLIC KEY-----\n"
    )
    write_private(sec, sec_text, overwrite=False)
    pub.unlink(missing_ok=True)
    pub.write_bytes(pub_text)
    os.chmod(pub, 0o644)


def crypt4gh_public_of(secret: SecretBytes) -> bytes:
    """The X25519 public key of a Crypt4GH secret key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private = X25519PrivateKey.from_private_bytes(secret.reveal())
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
