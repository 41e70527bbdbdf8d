"""Bearer tokens: the instance's own ES256 issuer, external OIDC issuers, Passport visas.

The instance's token-signing key (EC P-256, ``keys/``) signs short-lived JWTs with the
claims ``iss`` (the instance issuer), ``aud`` (the API audience), ``sub`` (the principal's
name), ``iat``, ``exp`` and ``jti``. Issuing is an admin action, audited (the token itself
is never logged or stored).

:meth:`TokenService.authenticate` picks the issuer by the token's ``iss``:

* the instance's own issuer: signature, audience, expiry, and that the principal exists;
* an external OpenID Connect provider of ``oidc_issuers``: an RS256 or ES256 signature by a
  key of the provider's JWKS (fetched from ``jwks_uri`` or by discovery and cached for
  :data:`JWKS_TTL_SECONDS`, or read from a local file, by :mod:`helgenom.adapters.jwks`),
  ``iss``, ``aud`` and expiry; then the configured claim (``sub`` by default) must name a
  registered principal (directly, or through the issuer's ``principals`` table) whose role
  the issuer may sign in. Deny by default: anything else is an :class:`AuthenticationError`;
* any other issuer is refused.

A token of an external provider may carry a GA4GH Passport: ``ga4gh_passport_v1``, a list of
visa JWTs. A visa counts only if its issuer is on the ``passport_visa_issuers`` allow-list,
it is signed by a key of that issuer's JWKS (a ``jku`` in the visa is never followed), it
has not expired, its ``sub`` is the passport's, and it is a ``ControlledAccessGrants`` visa
without ``conditions``, asserted ``by`` an accepted party, whose ``value`` names a project
(the issuer's ``value_prefix`` and a project code). Each such visa becomes a
:class:`~helgenom.core.models.VisaGrant` on the request context: the access policy counts it
as membership of that project for the request, while the steward's approval and expiry still
apply. Other visas are ignored (logged with the issuer and the reason, never the visa).
A JWKS that cannot be fetched is a :class:`StorageUnavailableError` (HTTP 503).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helgenom.adapters import jwks
from helgenom.adapters.catalog import Catalog
from helgenom.adapters.keys import KeyStore
from helgenom.core.access import Action
from helgenom.core.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)
from helgenom.core.models import Principal, RequestContext, VisaGrant
from helgenom.services.gate import Gate
from helgenom.services.research import check_project_code
from helgenom.services.settings import OidcIssuerSettings, VisaIssuerSettings

logger = logging.getLogger(__name__)

MAX_TTL = dt.timedelta(hours=12)
"""Longest lifetime of an issued token."""
_TTL = re.compile(r"^(\d{1,5})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

EXTERNAL_ALGORITHMS = ("RS256", "ES256")
"""Signature algorithms accepted from external issuers (never ``none`` or ``HS*``)."""
JWKS_TTL_SECONDS = 300.0
"""How long fetched signing keys are used before they are fetched again."""
JWKS_REFRESH_SECONDS = 30.0
"""A token naming an unknown key id refetches the JWKS at most this often (key rotation)."""
JWKS_TIMEOUT_SECONDS = jwks.TIMEOUT_SECONDS
"""Time allowed to fetch a JWKS or discovery document."""
MAX_VISAS = 200
"""Most visas one passport may carry."""
PASSPORT_CLAIM = "ga4gh_passport_v1"
VISA_CLAIM = "ga4gh_visa_v1"
CONTROLLED_ACCESS_GRANTS = "ControlledAccessGrants"
LEEWAY_SECONDS = 30
BLOCK_TOKEN_TTL = dt.timedelta(minutes=10)
"""Lifetime of the block tokens in htsget tickets (a client fetches the blocks at once)."""
BLOCK_AUDIENCE_SUFFIX = "#htsget-data"
"""Appended to the instance's audience for block tokens: no other route accepts them."""


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
    return jwks.pyjwt()


def _unverified_claims(token: str) -> dict[str, Any]:
    """A token's claims before any check (to choose how to verify it)."""
    jwt = _jwt()
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError(f"the bearer token is not valid ({type(exc).__name__})") from None
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token and what it says (the token is a secret: show it once, never log it)."""

    token: str
    subject: str
    expires_at: dt.datetime
    token_id: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Who a verified bearer token names, and the project grants its visas carry."""

    principal: Principal
    """The registered principal the token maps to."""
    issuer: str
    """The ``iss`` of the token."""
    grants: tuple[VisaGrant, ...] = ()
    """Verified ControlledAccessGrants visas of the token's passport."""


class _Ignored(Exception):
    """A visa that does not count (the message says why, never the visa)."""


def _short(value: object) -> str:
    """An untrusted claim value, quoted and cut short, for a message."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class JwksSource:
    """The signing keys of one issuer: a JWKS URL, OIDC discovery, or a local JWKS file.

    Fetching and parsing are :mod:`helgenom.adapters.jwks`'s; this class decides when.
    Keys fetched over HTTP are used for ``ttl`` seconds; a token naming a key id the cached
    set lacks refetches it (at most every :data:`JWKS_REFRESH_SECONDS`), so a rotated key is
    picked up. When a refetch fails the keys already held are still used. Only RSA keys
    (RS256) and EC P-256 keys (ES256) are kept.
    """

    def __init__(
        self,
        issuer: str,
        *,
        jwks_uri: str | None = None,
        jwks_path: Path | None = None,
        ttl: float = JWKS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        """The JWKS URL (None: discovered from the issuer, or a file)."""
        self.jwks_path = jwks_path
        """A local JWKS file, read again when it changes."""
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str | None, Any] = {}
        self._fetched_at: float | None = None
        self._file_stamp: jwks.FileStamp | None = None

    def _load(self) -> jwks.KeySet:
        """The keys, from the file or the URL (discovered once, then kept)."""
        if self.jwks_path is not None:
            return jwks.read_key_set(
                self.jwks_path, issuer=self.issuer, algorithms=EXTERNAL_ALGORITHMS
            )
        if self.jwks_uri is None:
            self.jwks_uri = jwks.discover_jwks_uri(self.issuer, timeout=JWKS_TIMEOUT_SECONDS)
        return jwks.fetch_key_set(
            self.jwks_uri,
            issuer=self.issuer,
            algorithms=EXTERNAL_ALGORITHMS,
            timeout=JWKS_TIMEOUT_SECONDS,
        )

    def _stale(self, now: float) -> bool:
        if self.jwks_path is not None:
            stamp = jwks.file_stamp(self.jwks_path)
            return stamp is None or stamp != self._file_stamp
        return self._fetched_at is None or now - self._fetched_at >= self.ttl

    def _refresh(self, now: float) -> None:
        try:
            loaded = self._load()
        except StorageUnavailableError as exc:
            if not self._keys:
                raise
            logger.warning("keeping the cached signing keys of issuer %s: %s", self.issuer, exc)
            self._fetched_at = now
            return
        self._keys, self._fetched_at, self._file_stamp = loaded.keys, now, loaded.stamp

    def key(self, kid: str | None, alg: str) -> Any:
        """The public key with id ``kid`` for algorithm ``alg``.

        Raises
        ------
        AuthenticationError
            The issuer publishes no such key, or it is for another algorithm.
        StorageUnavailableError
            The JWKS cannot be fetched and no keys are cached.
        """
        with self._lock:
            now = self._clock()
            unknown = kid not in self._keys and (
                self._fetched_at is None or now - self._fetched_at >= JWKS_REFRESH_SECONDS
            )
            if unknown or self._stale(now):
                self._refresh(now)
            keys = self._keys
        if kid is None and None not in keys and len(keys) == 1:
            key = next(iter(keys.values()))
        else:
            key = keys.get(kid)
        if key is None:
            raise AuthenticationError(
                f"the token is signed with key {_short(kid)}, which issuer {self.issuer} does "
                "not publish"
            )
        if key.algorithm_name != alg:
            raise AuthenticationError(
                f"the token says {alg} but key {_short(kid)} of issuer {self.issuer} is a "
                f"{key.algorithm_name} key"
            )
        return key.key


def _resolve(path: Path | None, home: Path | None) -> Path | None:
    if path is None or path.is_absolute() or home is None:
        return path
    return home / path


class TokenService:
    """Issues the instance's bearer tokens; verifies them and external issuers' tokens."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        keys: KeyStore,
        *,
        issuer: str,
        audience: str,
        principal: Any,
        oidc_issuers: Sequence[OidcIssuerSettings] = (),
        visa_issuers: Sequence[VisaIssuerSettings] = (),
        home: Path | None = None,
        jwks_ttl: float = JWKS_TTL_SECONDS,
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self.keys = keys
        self.issuer = issuer
        """The ``iss`` of issued tokens (external issuers are configured apart)."""
        self.audience = audience
        """The ``aud`` of issued tokens and the only one accepted for them."""
        self._principal = principal
        self._public: Any = None
        self.oidc_issuers: dict[str, OidcIssuerSettings] = {}
        """External OIDC providers by ``iss``."""
        self.visa_issuers: dict[str, VisaIssuerSettings] = {}
        """Allow-listed Passport visa issuers by ``iss``."""
        self._jwks: dict[tuple[str, str], JwksSource] = {}
        for kind, configs in (("oidc", oidc_issuers), ("visa", visa_issuers)):
            table: dict[str, Any] = self.oidc_issuers if kind == "oidc" else self.visa_issuers
            for config in configs:
                if config.issuer in table:
                    raise ConfigurationError(f"issuer {config.issuer} is configured twice")
                if kind == "oidc" and config.issuer == issuer:
                    raise ConfigurationError(
                        f"oidc_issuers names the instance's own issuer {issuer}: choose "
                        "another token_issuer, or remove it from oidc_issuers"
                    )
                table[config.issuer] = config
                self._jwks[(kind, config.issuer)] = JwksSource(
                    config.issuer,
                    jwks_uri=config.jwks_uri,
                    jwks_path=_resolve(config.jwks_path, home),
                    ttl=jwks_ttl,
                )

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
        """The principal a bearer token names, after every check (see :meth:`authenticate`)."""
        return self.authenticate(token).principal

    def authenticate(self, token: str) -> Authenticated:
        """The principal a bearer token names and the grants of its visas, after every check.

        Raises
        ------
        AuthenticationError
            A malformed, forged, expired or foreign token, or an unknown principal (the
            message says which, never the token).
        StorageUnavailableError
            An external issuer's signing keys cannot be fetched.
        """
        iss = _unverified_claims(token).get("iss")
        if iss == self.issuer or not self.oidc_issuers:
            return Authenticated(self._verify_local(token), self.issuer)
        config = self.oidc_issuers.get(iss) if isinstance(iss, str) else None
        if config is None:
            raise AuthenticationError(
                f"the bearer token is from an unknown issuer {_short(iss)}: this instance "
                "accepts its own tokens and those of the configured oidc_issuers"
            )
        return self._verify_external(token, config)

    def issue_block_token(
        self, ctx: RequestContext, object_id: str, ttl: dt.timedelta = BLOCK_TOKEN_TTL
    ) -> str:
        """A short-lived token for the htsget blocks of one object, for a ticket's URLs.

        It names the same principal (and carries the request's verified visa grants), but
        only the data route of ``object_id`` accepts it (its own audience): a ticket never
        repeats the caller's bearer token, which would then travel in every response body.
        Not audited by itself: the ticket that holds it is.
        """
        jwt = _jwt()
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience + BLOCK_AUDIENCE_SUFFIX,
            "sub": ctx.actor.name,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_hex(8),
            "obj": object_id,
        }
        if ctx.grants:
            claims["grants"] = [
                {
                    "project": g.project,
                    "issuer": g.issuer,
                    "value": g.value,
                    "exp": int(g.expires_at.timestamp()),
                }
                for g in ctx.grants
            ]
        return str(jwt.encode(claims, self._private_pem(), algorithm="ES256"))

    def authenticate_block(self, token: str, object_id: str) -> Authenticated:
        """Who may read the htsget blocks of ``object_id``: a block token of a ticket for
        that object (:meth:`issue_block_token`), or any bearer token :meth:`authenticate`
        accepts.

        Raises
        ------
        AuthenticationError
            As :meth:`authenticate`; also a block token for another object.
        """
        audience = self.audience + BLOCK_AUDIENCE_SUFFIX
        if _unverified_claims(token).get("aud") != audience:
            return self.authenticate(token)
        claims = self._local_claims(token, audience, ["exp", "iat", "iss", "aud", "sub", "obj"])
        if claims["obj"] != object_id:
            raise AuthenticationError(
                "the bearer token is for the blocks of another object: send each URL of the "
                "ticket with its own headers"
            )
        now = dt.datetime.now(dt.UTC)
        grants = []
        for g in claims.get("grants") or []:
            expires = dt.datetime.fromtimestamp(int(g["exp"]), dt.UTC)
            if expires > now:
                grants.append(
                    VisaGrant(str(g["project"]), str(g["issuer"]), str(g["value"]), expires)
                )
        return Authenticated(self._named(claims), self.issuer, tuple(grants))

    def _verify_local(self, token: str) -> Principal:
        claims = self._local_claims(token, self.audience, ["exp", "iat", "iss", "aud", "sub"])
        return self._named(claims)

    def _named(self, claims: dict[str, Any]) -> Principal:
        try:
            principal: Principal = self._principal(str(claims["sub"]))
        except NotFoundError:
            raise AuthenticationError("the bearer token names an unknown user") from None
        return principal

    def _local_claims(self, token: str, audience: str, require: list[str]) -> dict[str, Any]:
        """The claims of one of the instance's own tokens for ``audience``, verified."""
        jwt = _jwt()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key(),
                algorithms=["ES256"],
                audience=audience,
                issuer=self.issuer,
                options={"require": require},
                leeway=LEEWAY_SECONDS,
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
        return claims

    def _signed_claims(
        self, token: str, kind: str, issuer: str, audience: str | None
    ) -> dict[str, Any]:
        """The claims of ``token`` after checking its signature by ``issuer``'s JWKS, its
        issuer, audience (unless None) and expiry. Raises jwt errors or AuthenticationError."""
        jwt = _jwt()
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg not in EXTERNAL_ALGORITHMS:
            raise AuthenticationError(
                f"a token of issuer {issuer} is signed with {_short(alg)}; accepted: "
                + ", ".join(EXTERNAL_ALGORITHMS)
            )
        kid = header.get("kid")
        key = self._jwks[(kind, issuer)].key(kid if isinstance(kid, str) else None, str(alg))
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            options={
                "require": ["exp", "iss", "sub"] + (["aud"] if audience else []),
                "verify_aud": audience is not None,
            },
            leeway=LEEWAY_SECONDS,
        )
        return claims

    def _verify_external(self, token: str, config: OidcIssuerSettings) -> Authenticated:
        jwt = _jwt()
        issuer = config.issuer
        try:
            claims = self._signed_claims(token, "oidc", issuer, config.audience)
        except jwt.ExpiredSignatureError:
            raise AuthenticationError(
                f"the bearer token of issuer {issuer} has expired: get a new one"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(
                f"the bearer token of issuer {issuer} has no {exc.claim} claim"
            ) from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                f"the bearer token of issuer {issuer} is for another audience (this API is "
                f"{config.audience})"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(
                f"the bearer token of issuer {issuer} is not valid ({type(exc).__name__})"
            ) from None
        principal = self._map_principal(claims, config)
        subject = str(claims["sub"])
        return Authenticated(principal, issuer, self._visas(claims.get(PASSPORT_CLAIM), subject))

    def _map_principal(self, claims: dict[str, Any], config: OidcIssuerSettings) -> Principal:
        """The registered principal an external token names; deny by default."""
        claim = config.principal_claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value:
            raise AuthenticationError(
                f"the bearer token of issuer {config.issuer} has no {claim} claim naming a user"
            )
        if config.principals:
            name = config.principals.get(value)
            if name is None:
                raise AuthenticationError(
                    f"the bearer token of issuer {config.issuer} names a subject that is not "
                    f"registered on this instance: an admin maps its {claim} to a user in "
                    "oidc_issuers.principals"
                )
        else:
            name = value
        try:
            principal: Principal = self._principal(name)
        except NotFoundError:
            raise AuthenticationError(
                f"the bearer token of issuer {config.issuer} names an unknown user: an admin "
                f"adds a user named as its {claim} claim (helgenom user add) or maps it in "
                "oidc_issuers.principals"
            ) from None
        if principal.role not in config.roles:
            allowed = ", ".join(r.value for r in config.roles)
            raise AuthenticationError(
                f"issuer {config.issuer} may not sign in a {principal.role.value} (it may sign "
                f"in: {allowed}); an admin can widen oidc_issuers.roles"
            )
        return principal

    def _visas(self, passport: Any, subject: str) -> tuple[VisaGrant, ...]:
        """The grants of a passport's valid ControlledAccessGrants visas (others ignored)."""
        if passport is None:
            return ()
        if not isinstance(passport, list) or len(passport) > MAX_VISAS:
            raise AuthenticationError(
                f"the {PASSPORT_CLAIM} claim must be a list of at most {MAX_VISAS} visa JWTs"
            )
        grants: list[VisaGrant] = []
        for index, visa in enumerate(passport):
            try:
                grants.append(self._visa(visa, subject))
            except _Ignored as exc:
                logger.info("passport visa %d ignored: %s", index, exc)
        return tuple(grants)

    def _visa(self, visa: Any, subject: str) -> VisaGrant:
        jwt = _jwt()
        if not isinstance(visa, str):
            raise _Ignored("not a JWT")
        try:
            unverified = jwt.decode(visa, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise _Ignored(f"malformed ({type(exc).__name__})") from None
        iss = unverified.get("iss") if isinstance(unverified, dict) else None
        config = self.visa_issuers.get(iss) if isinstance(iss, str) else None
        if config is None:
            raise _Ignored(f"issuer {_short(iss)} is not on the passport_visa_issuers allow-list")
        try:
            claims = self._signed_claims(visa, "visa", config.issuer, None)
        except AuthenticationError as exc:
            raise _Ignored(str(exc)) from None
        except jwt.ExpiredSignatureError:
            raise _Ignored(f"a visa of {config.issuer} has expired") from None
        except jwt.InvalidTokenError as exc:
            reason = type(exc).__name__
            raise _Ignored(f"a visa of {config.issuer} is not valid ({reason})") from None
        if claims.get("sub") != subject:
            raise _Ignored(f"a visa of {config.issuer} is for another subject than the passport")
        body = claims.get(VISA_CLAIM)
        if not isinstance(body, dict):
            raise _Ignored(f"a visa of {config.issuer} has no {VISA_CLAIM} object")
        if body.get("type") != CONTROLLED_ACCESS_GRANTS:
            raise _Ignored(f"a visa of {config.issuer} is of type {_short(body.get('type'))}")
        if body.get("conditions"):
            raise _Ignored(f"a visa of {config.issuer} has conditions, which are not supported")
        if body.get("by") not in config.by:
            raise _Ignored(f"a visa of {config.issuer} is asserted by {_short(body.get('by'))}")
        asserted = body.get("asserted")
        if not isinstance(asserted, int) or asserted > time.time() + LEEWAY_SECONDS:
            raise _Ignored(f"a visa of {config.issuer} has no valid asserted time")
        value = body.get("value")
        if not isinstance(value, str) or not value.startswith(config.value_prefix):
            raise _Ignored(
                f"a visa of {config.issuer} has value {_short(value)}, not "
                f"{config.value_prefix!r} and a project code"
            )
        try:
            project = check_project_code(value[len(config.value_prefix) :])
        except InvalidInputError:
            raise _Ignored(f"visa value {_short(value)} names no project code") from None
        expires_at = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        return VisaGrant(project, config.issuer, value, expires_at)


__all__ = [
    "EXTERNAL_ALGORITHMS",
    "JWKS_TTL_SECONDS",
    "MAX_TTL",
    "Authenticated",
    "IssuedToken",
    "JwksSource",
    "TokenService",
    "parse_ttl",
]
