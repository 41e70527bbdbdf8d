"""Bearer tokens of the embedded profile: ES256 JWTs from the instance's own issuer.

The instance's token-signing key (EC P-256, ``keys/``) signs short-lived JWTs with the
claims ``iss`` (the instance issuer), ``aud`` (the API audience), ``sub`` (the principal's
name), ``iat``, ``exp`` and ``jti``. :meth:`TokenService.verify` checks the signature,
issuer, audience, expiry and that the principal still exists, and returns the principal:
the API builds its request context from it. Issuing is an admin action, audited (the
token itself is never logged or stored).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.keys import KeyStore
from helgenom.core.access import Action
from helgenom.core.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
)
from helgenom.core.models import Principal, RequestContext
from helgenom.services.gate import Gate

MAX_TTL = dt.timedelta(hours=12)
"""Longest lifetime of an issued token."""
_TTL = re.compile(r"^(\d{1,5})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``1h`` -> a positive duration of at most :data:`MAX_TTL`.

    Raises
    ------
    InvalidInputError
        Another form, zero, or longer than the maximum.
    """
    match = _TTL.match(text.strip())
    if match is None:
        raise InvalidInputError(f"token lifetime {text!r}: write a number and s, m, h or d (1h)")
    ttl = dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if ttl <= dt.timedelta(0) or ttl > MAX_TTL:
        raise InvalidInputError(f"token lifetime {text!r}: give more than 0 and at most 12h")
    return ttl


def _jwt() -> Any:
    try:
        import jwt
    except ImportError:
        raise ConfigurationError("bearer tokens need PyJWT: pip install 'helgenom[api]'") from None
    return jwt


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token and what it says (the token is a secret: show it once, never log it)."""

    token: str
    subject: str
    expires_at: dt.datetime
    token_id: str


class TokenService:
    """Issues and verifies the instance's bearer tokens."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        keys: KeyStore,
        *,
        issuer: str,
        audience: str,
        principal: Any,
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self.keys = keys
        self.issuer = issuer
        """The ``iss`` of issued tokens and the only one accepted."""
        self.audience = audience
        """The ``aud`` of issued tokens and the only one accepted."""
        self._principal = principal
        self._public: Any = None

    def _private_pem(self) -> bytes:
        return self.keys.load_token_signing_pem().reveal()

    def _public_key(self) -> Any:
        if self._public is None:
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_pem_private_key(self._private_pem(), password=None)
            self._public = key.public_key()
        return self._public

    def issue(self, ctx: RequestContext, user: str, ttl: dt.timedelta) -> IssuedToken:
        """A token for principal ``user`` (admins; audited without the token)."""
        jwt = _jwt()
        if ttl <= dt.timedelta(0) or ttl > MAX_TTL:
            raise InvalidInputError("a token lives more than 0 and at most 12 hours")
        subject: Principal = self._principal(user)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        token_id = secrets.token_hex(8)
        with self.gate.access(ctx, Action.TOKEN_ISSUE, resource=f"principal/{user}") as grant:
            token = jwt.encode(
                {
                    "iss": self.issuer,
                    "aud": self.audience,
                    "sub": subject.name,
                    "iat": int(now.timestamp()),
                    "exp": int((now + ttl).timestamp()),
                    "jti": token_id,
                    "role": subject.role.value,
                },
                self._private_pem(),
                algorithm="ES256",
            )
            grant.note = f"token {token_id} for {subject.name}, valid {ttl}"
        return IssuedToken(str(token), subject.name, now + ttl, token_id)

    def verify(self, token: str) -> Principal:
        """The principal a bearer token names, after every check.

        Raises
        ------
        AuthenticationError
            A malformed, forged, expired or foreign token, or an unknown principal (the
            message says which, never the token).
        """
        jwt = _jwt()
        try:
            claims = jwt.decode(
                token,
                self._public_key(),
                algorithms=["ES256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the bearer token has expired: get a new one") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("the bearer token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("the bearer token is from an unknown issuer") from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(
                f"the bearer token is not valid ({type(exc).__name__})"
            ) from None
        try:
            principal: Principal = self._principal(str(claims["sub"]))
        except NotFoundError:
            raise AuthenticationError("the bearer token names an unknown user") from None
        return principal


__all__ = ["MAX_TTL", "IssuedToken", "TokenService", "parse_ttl"]
