"""External OIDC issuers and GA4GH Passport visas, end to end through the API.

A real loopback HTTP server (``http.server`` in a thread) plays the identity provider (its
OpenID discovery document and JWKS) and an allow-listed visa issuer (its JWKS); every token
and visa is signed here with keys made for the test (RSA for the provider, EC P-256 for the
visa issuer). The app is the real FastAPI app on a populated instance (``world``), opened with
settings that name the two issuers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from conftest import World
from helgenom.adapters.catalog.schema import audit_log, project_members, projects
from helgenom.api.app import create_app
from helgenom.core.access import Action, ProjectFacts, decide_access
from helgenom.core.errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    StorageUnavailableError,
)
from helgenom.core.models import Principal, Purpose, RequestContext, Role, VisaGrant
from helgenom.services.platform import make_context
from helgenom.services.settings import (
    OidcIssuerSettings,
    Settings,
    VisaIssuerSettings,
    load_settings,
)
from helgenom.services.tokens import JWKS_REFRESH_SECONDS, JwksSource
from test_api import token as local_token

AUDIENCE = "helgenom-api"
SUBJECT = "7f3c1e9a-researcher@aai.example.org"
"""The provider's opaque ``sub`` of the external researcher, mapped to user ``outsider``."""
VALUE_PREFIX = "https://dac.example.org/helgenom/projects/"


# -- the loopback key server ------------------------------------------------------------------


@dataclass
class KeyServer:
    """A loopback HTTP server answering JSON documents by path, counting requests."""

    documents: dict[str, Any] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    failing: bool = False
    """Answer every request with 500 (an outage)."""
    url: str = ""

    def serve(self) -> Iterator[KeyServer]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                document = owner.documents.get(self.path)
                status = 500 if owner.failing else 200 if document is not None else 404
                body = json.dumps(document if status == 200 else {"error": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def jwk(private: Any, kid: str) -> dict[str, Any]:
    """The public JWK of ``private`` with key id ``kid``."""
    public = private.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


@dataclass
class Issuers:
    """The provider and the visa issuer on one key server, and an app that trusts them."""

    server: KeyServer
    idp_rsa: Any
    idp_ec: Any
    visa_ec: Any
    settings: Settings

    @property
    def idp(self) -> str:
        return f"{self.server.url}/idp"

    @property
    def visa_issuer(self) -> str:
        return f"{self.server.url}/visas"

    def access_token(
        self,
        visas: list[str] | None = None,
        *,
        key: Any = None,
        kid: str = "idp-rsa",
        alg: str = "RS256",
        **claims: Any,
    ) -> str:
        """A passport-bearing access token of the provider (RS256 by default)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.idp,
            "aud": AUDIENCE,
            "sub": SUBJECT,
            "iat": now,
            "exp": now + 600,
        }
        if visas is not None:
            body["ga4gh_passport_v1"] = visas
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.idp_rsa, algorithm=alg, headers={"kid": kid})

    def visa(
        self,
        project: str = "PROJ-1",
        *,
        key: Any = None,
        kid: str = "visa-ec",
        iss: str | None = None,
        sub: str = SUBJECT,
        type: str = "ControlledAccessGrants",
        expires_in: int = 3600,
        by: str = "dac",
        value: str | None = None,
        **extra: Any,
    ) -> str:
        """A visa of the allow-listed visa issuer (ES256) granting ``project``."""
        now = int(time.time())
        body = {
            "iss": iss or self.visa_issuer,
            "sub": sub,
            "iat": now,
            "exp": now + expires_in,
            "jti": "visa-1",
            "ga4gh_visa_v1": {
                "type": type,
                "asserted": now - 86_400,
                "value": value if value is not None else VALUE_PREFIX + project,
                "source": "https://dac.example.org",
                "by": by,
                **extra,
            },
        }
        return jwt.encode(body, key or self.visa_ec, algorithm="ES256", headers={"kid": kid})


def new_rsa() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def issuers(world: World) -> Iterator[Issuers]:
    server = KeyServer()
    for running in server.serve():
        idp_rsa, idp_ec, visa_ec = new_rsa(), new_ec(), new_ec()
        idp, visas = f"{running.url}/idp", f"{running.url}/visas"
        running.documents["/idp/.well-known/openid-configuration"] = {
            "issuer": idp,
            "jwks_uri": f"{running.url}/idp/jwks",
        }
        running.documents["/idp/jwks"] = {"keys": [jwk(idp_rsa, "idp-rsa"), jwk(idp_ec, "idp-ec")]}
        running.documents["/visas/jwks"] = {"keys": [jwk(visa_ec, "visa-ec")]}
        settings = world.platform.settings.model_copy(
            update={
                # discovery for the provider; a configured jwks_uri for the visa issuer
                "oidc_issuers": [
                    OidcIssuerSettings(
                        issuer=idp,
                        audience=AUDIENCE,
                        principals={SUBJECT: "outsider", "steward-sub": "steward"},
                    )
                ],
                "passport_visa_issuers": [
                    VisaIssuerSettings(
                        issuer=visas,
                        jwks_uri=f"{running.url}/visas/jwks",
                        value_prefix=VALUE_PREFIX,
                    )
                ],
            }
        )
        yield Issuers(running, idp_rsa, idp_ec, visa_ec, settings)


@pytest.fixture
def client(world: World, issuers: Issuers) -> Iterator[TestClient]:
    home = str(world.platform.settings.home)
    with TestClient(create_app(home, settings=issuers.settings)) as c:
        yield c


def auth(value: str, project: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {value}"}
    if project is not None:
        headers["X-Helgenom-Project"] = project
    return headers


# -- signing in -------------------------------------------------------------------------------


def test_external_tokens_sign_in_mapped_users(
    world: World, issuers: Issuers, client: TestClient
) -> None:
    me = client.get("/me", headers=auth(issuers.access_token()))
    assert me.status_code == 200, me.text
    assert me.json() == {
        "name": "outsider",
        "role": "researcher",
        "organisation": "platform",
        "purpose": "research",
    }
    es256 = issuers.access_token(key=issuers.idp_ec, kid="idp-ec", alg="ES256")
    assert client.get("/me", headers=auth(es256)).json()["name"] == "outsider"
    # discovery and JWKS fetched once, then cached
    hits = issuers.server.hits
    assert hits == {"/idp/.well-known/openid-configuration": 1, "/idp/jwks": 1}
    # the instance's own tokens still work next to the external issuer
    assert client.get("/me", headers=auth(local_token(world, "clin-a"))).status_code == 200


def test_external_tokens_are_refused_unless_every_check_passes(
    issuers: Issuers, client: TestClient
) -> None:
    now = int(time.time())
    pem = issuers.idp_rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"iss": issuers.idp, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "exp": now + 60}
    refused = {
        "alg none": (jwt.encode(claims, None, algorithm="none"), "signed with 'none'"),
        # the classic confusion: HS256 keyed with the provider's public key
        "HS256": (_hs256(claims, pem), "signed with 'HS256'"),
        "unknown kid": (issuers.access_token(kid="rotated-away"), "does not publish"),
        "alg/key mismatch": (
            issuers.access_token(key=issuers.idp_ec, kid="idp-rsa", alg="ES256"),
            "is a RS256 key",
        ),
        "forged": (issuers.access_token(key=new_rsa()), "InvalidSignatureError"),
        "wrong issuer": (issuers.access_token(iss="https://evil.example.org"), "unknown issuer"),
        "wrong audience": (issuers.access_token(aud="another-api"), "another audience"),
        "expired": (issuers.access_token(exp=now - 3600, iat=now - 7200), "expired"),
        "no sub": (issuers.access_token(sub=None), "has no sub claim"),
        "unmapped subject": (issuers.access_token(sub="someone@else"), "not registered"),
        "role not allowed": (issuers.access_token(sub="steward-sub"), "may not sign in a steward"),
    }
    for case, (value, message) in refused.items():
        got = client.get("/me", headers=auth(value))
        assert got.status_code == 401, (case, got.text)
        assert got.json()["error"] == "authentication_failed", case
        assert message in got.json()["message"], (case, got.json()["message"])
        assert value not in got.text, case


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with ``secret`` (PyJWT refuses PEM secrets; sign by hand)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "idp-rsa"}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_unreachable_keys_are_503_and_cached_keys_outlive_an_outage(
    world: World, issuers: Issuers, client: TestClient
) -> None:
    good = issuers.access_token()
    assert client.get("/me", headers=auth(good)).status_code == 200
    issuers.server.failing = True
    # keys already fetched are used for their lifetime
    assert client.get("/me", headers=auth(good)).status_code == 200
    # a fresh app must fetch them: the outage is a 503 with a clear message, not a 500
    with TestClient(create_app(str(world.platform.settings.home), settings=issuers.settings)) as c:
        down = c.get("/me", headers=auth(good))
    assert down.status_code == 503, down.text
    assert down.json()["error"] == "storage_unavailable"
    assert "could not be fetched" in down.json()["message"]
    assert good not in down.text


def test_a_local_jwks_file_serves_an_air_gapped_site(world: World, issuers: Issuers) -> None:
    home = world.platform.settings.home
    (home / "idp-jwks.json").write_text(json.dumps({"keys": [jwk(issuers.idp_rsa, "idp-rsa")]}))
    settings = issuers.settings.model_copy(
        update={
            "oidc_issuers": [
                OidcIssuerSettings(
                    issuer=issuers.idp,
                    audience=AUDIENCE,
                    jwks_path=Path("idp-jwks.json"),
                    principal_claim="preferred_username",
                )
            ]
        }
    )
    issuers.server.failing = True  # nothing is fetched
    with TestClient(create_app(str(home), settings=settings)) as c:
        me = c.get("/me", headers=auth(issuers.access_token(preferred_username="outsider")))
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "outsider"
        ghost = c.get("/me", headers=auth(issuers.access_token(preferred_username="ghost")))
        assert "unknown user" in ghost.json()["message"]
        # the default roles allow researchers only
        steward = c.get("/me", headers=auth(issuers.access_token(preferred_username="steward")))
        assert steward.status_code == 401
    assert "/idp/jwks" not in issuers.server.hits


def test_jwks_refetched_for_an_unknown_key_id_at_most_every_refresh_interval(
    tmp_path: Path,
) -> None:
    key_a, key_b = new_ec(), new_ec()
    path = tmp_path / "jwks.json"
    clock = [1000.0]
    server = KeyServer(documents={"/jwks": {"keys": [jwk(key_a, "a")]}})
    for running in server.serve():
        source = JwksSource(
            "https://idp.example.org",
            jwks_uri=f"{running.url}/jwks",
            ttl=3600,
            clock=lambda: clock[0],
        )
        assert source.key("a", "ES256") is not None
        running.documents["/jwks"] = {"keys": [jwk(key_a, "a"), jwk(key_b, "b")]}
        with pytest.raises(AuthenticationError, match="does not publish"):
            source.key("b", "ES256")  # too soon after the last fetch
        assert running.hits["/jwks"] == 1
        clock[0] += JWKS_REFRESH_SECONDS
        assert source.key("b", "ES256") is not None  # the rotated key
        assert running.hits["/jwks"] == 2
        with pytest.raises(AuthenticationError, match="is a ES256 key"):
            source.key("b", "RS256")
    path.write_text(json.dumps({"keys": [jwk(key_a, "a")]}))
    from_file = JwksSource("urn:x", jwks_path=path)
    assert from_file.key(None, "ES256") is not None  # one key, no kid needed
    path.write_text(json.dumps({"keys": [jwk(key_a, "a"), jwk(key_b, "b")]}))
    assert from_file.key("b", "ES256") is not None  # the file is read again when it changes
    with pytest.raises(AuthenticationError):
        from_file.key(None, "ES256")  # ambiguous without a kid
    with pytest.raises(StorageUnavailableError, match="cannot be read"):
        JwksSource("urn:y", jwks_path=tmp_path / "missing.json").key("a", "ES256")


# -- Passport visas -------------------------------------------------------------------------


def load_beacon(world: World, tmp_path: Path) -> dict[str, str]:
    """A reference for the beacon and a g_variants query asking for records."""
    from helgenom.adapters.variants.cohort import simulate_cohort
    from test_variants_service import enrol

    p = world.platform
    cohort = simulate_cohort(tmp_path / "cohort", samples=6, length=10_000, seed=5, gvcf=True)
    enrolled = enrol(world, cohort)
    p.variants.ingest_batch(p.context("operator"), enrolled.items, workers=0)
    return {
        "referenceName": cohort.contig,
        "start": "99",
        "referenceBases": "A",
        "alternateBases": "C",
        "requestedGranularity": "record",
    }


def granularity(client: TestClient, query: dict[str, str], headers: dict[str, str]) -> str:
    got = client.get("/beacon/g_variants", params=query, headers=headers)
    assert got.status_code == 200, got.text
    return str(got.json()["meta"]["returnedGranularity"])


def test_a_visa_grants_an_approved_project_for_the_request(
    world: World, issuers: Issuers, client: TestClient, tmp_path: Path, caplog: Any
) -> None:
    p = world.platform
    query = load_beacon(world, tmp_path)
    # PROJ-2 is applied for but never approved; PROJ-3 was approved and has expired
    p.research.apply(p.context("researcher"), "PROJ-2", "Not approved")
    p.research.apply(p.context("researcher"), "PROJ-3", "Expired")
    p.research.decide(
        p.context("steward"),
        "PROJ-3",
        approve=True,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    with p.catalog.begin() as conn:
        conn.execute(
            projects.update()
            .where(projects.c.code == "PROJ-3")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        )
        members_before = conn.execute(sa.select(project_members)).all()

    # the member researcher (instance token) and the external researcher with a visa
    member = auth(local_token(world, "researcher"), "PROJ-1")
    assert granularity(client, query, member) == "record"
    with_visa = issuers.access_token([issuers.visa("PROJ-1")])
    caplog.set_level(logging.INFO, logger="helgenom")
    assert granularity(client, query, auth(with_visa, "PROJ-1")) == "record"
    entry = p.audit.log(p.context("auditor"), limit=1)[0]
    assert (entry.actor, entry.action, entry.project) == ("outsider", "variant.query", "PROJ-1")
    assert "Passport visa ControlledAccessGrants" in entry.reason
    assert issuers.visa_issuer in entry.reason
    assert f"value {VALUE_PREFIX}PROJ-1" in entry.reason

    # the visa does not count for another project, nor without one
    assert granularity(client, query, auth(with_visa, "PROJ-2")) == "count"
    assert granularity(client, query, auth(with_visa)) == "count"
    other_issuer_key = new_ec()
    # case -> (token, project asked for, why the visa is ignored (logged), if it is)
    refused: dict[str, tuple[str, str, str | None]] = {
        "no visa": (issuers.access_token(), "PROJ-1", None),
        "forged visa": (
            issuers.access_token([issuers.visa(key=other_issuer_key)]),
            "PROJ-1",
            "InvalidSignatureError",
        ),
        "issuer not allow-listed": (
            issuers.access_token(
                [issuers.visa(iss="https://rogue.example.org", key=other_issuer_key)]
            ),
            "PROJ-1",
            "'https://rogue.example.org' is not on the passport_visa_issuers allow-list",
        ),
        "expired visa": (
            issuers.access_token([issuers.visa(expires_in=-3600)]),
            "PROJ-1",
            "has expired",
        ),
        "other visa type": (
            issuers.access_token([issuers.visa(type="AffiliationAndRole")]),
            "PROJ-1",
            "is of type 'AffiliationAndRole'",
        ),
        "other subject": (
            issuers.access_token([issuers.visa(sub="someone-else")]),
            "PROJ-1",
            "for another subject than the passport",
        ),
        "self-asserted": (
            issuers.access_token([issuers.visa(by="self")]),
            "PROJ-1",
            "asserted by 'self'",
        ),
        "with conditions": (
            issuers.access_token([issuers.visa(conditions=[[{"type": "x"}]])]),
            "PROJ-1",
            "has conditions",
        ),
        "value of another dataset": (
            issuers.access_token([issuers.visa(value="https://elsewhere.example.org/PROJ-1")]),
            "PROJ-1",
            "has value 'https://elsewhere.example.org/PROJ-1'",
        ),
        "not a JWT": (
            issuers.access_token(["not-a-visa", 42]),  # type: ignore[list-item]
            "PROJ-1",
            "malformed (DecodeError)",
        ),
        # valid visas, but the steward's approval and expiry still apply
        "unapproved project": (issuers.access_token([issuers.visa("PROJ-2")]), "PROJ-2", None),
        "expired project": (issuers.access_token([issuers.visa("PROJ-3")]), "PROJ-3", None),
    }
    logged = []
    for case, (value, project, why) in refused.items():
        logged.append(caplog.text)
        caplog.clear()
        assert granularity(client, query, auth(value, project)) == "count", case
        if why is not None:
            assert why in caplog.text, (case, caplog.text)
        else:
            assert "ignored" not in caplog.text, (case, caplog.text)
    logged.append(caplog.text)
    # the audit entry of the expired-project query names the visa presented, not a grant
    last = [e for e in p.audit.log(p.context("auditor")) if e.resource == "beacon"][-1]
    assert last.project == "PROJ-3"
    assert "ControlledAccessGrants" in last.reason
    assert "presented for project PROJ-3" in last.reason
    assert "approved project" not in last.reason

    # a visa never creates rows; no token or visa reaches the audit log or the logs
    with p.catalog.begin() as conn:
        assert conn.execute(sa.select(project_members)).all() == members_before
        reasons = [str(r.reason) for r in conn.execute(sa.select(audit_log.c.reason))]
    everything = "\n".join(reasons + logged)
    for value in [with_visa, issuers.visa("PROJ-1"), *(v for v, _, _ in refused.values())]:
        assert value not in everything
        assert value.split(".")[2] not in everything  # not even a signature


def test_a_visa_counts_as_membership_in_the_gate(
    world: World, issuers: Issuers, client: TestClient
) -> None:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    found = platform.tokens.authenticate(issuers.access_token([issuers.visa("PROJ-1")]))
    assert [(g.project, g.issuer) for g in found.grants] == [("PROJ-1", issuers.visa_issuer)]
    ctx = make_context(found.principal, project="PROJ-1", grants=found.grants)
    cohort = platform.research.cohort(ctx)
    assert cohort  # consenting persons under PROJ-1 pseudonyms
    plain = platform.tokens.authenticate(issuers.access_token())
    with pytest.raises(PermissionDeniedError, match="not a member of project PROJ-1"):
        platform.research.cohort(make_context(plain.principal, project="PROJ-1"))
    entries = world.platform.audit.log(world.platform.context("auditor"))
    cohorts = [e for e in entries if e.action == "research.cohort"]
    assert [(e.actor, e.decision) for e in cohorts] == [("outsider", "allow"), ("outsider", "deny")]
    assert "via Passport visa ControlledAccessGrants" in cohorts[0].reason
    assert "Passport visa" not in cohorts[1].reason
    # a local token never carries visas
    local = platform.tokens.authenticate(local_token(world, "outsider"))
    assert local.grants == ()


def test_policy_counts_only_unexpired_visas_for_approved_current_projects() -> None:
    now = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    later = now + dt.timedelta(days=10)
    actor = Principal("outsider", Role.RESEARCHER, "platform")
    grant = VisaGrant("PROJ-1", "https://visas.example.org", VALUE_PREFIX + "PROJ-1", later)
    approved = ProjectFacts("PROJ-1", True, later, frozenset({"researcher"}))

    def decide(grants: tuple[VisaGrant, ...], project: ProjectFacts) -> Any:
        ctx = RequestContext(actor, Purpose.RESEARCH, "PROJ-1", grants)
        return decide_access(ctx, Action.RESEARCH_COHORT, project=project, now=now)

    allowed = decide((grant,), approved)
    assert allowed.allowed
    assert "https://visas.example.org" in allowed.reason
    assert not decide((), approved).allowed
    other = VisaGrant("PROJ-9", grant.issuer, grant.value, later)
    assert "no valid Passport visa" in decide((other,), approved).reason
    lapsed = VisaGrant("PROJ-1", grant.issuer, grant.value, now)
    assert not decide((lapsed,), approved).allowed
    assert not decide((grant,), ProjectFacts("PROJ-1", False, later, frozenset())).allowed
    assert not decide((grant,), ProjectFacts("PROJ-1", True, now, frozenset())).allowed
    # a visa never widens a role: a clinician with one is still denied research work
    clinician = RequestContext(
        Principal("clin-a", Role.CLINICIAN, "DEP-A"), Purpose.CLINICAL_CARE, "PROJ-1", (grant,)
    )
    assert not decide_access(clinician, Action.RESEARCH_COHORT, project=approved, now=now).allowed


# -- settings -------------------------------------------------------------------------------


def test_issuers_come_from_the_config_file_and_the_environment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = world.platform.settings.home
    config = home / "helgenom.toml"
    original = config.read_text()
    config.write_text(
        original
        + """
[[oidc_issuers]]
issuer = "https://login.example.org/realms/genome"
audience = "helgenom-api"
principal_claim = "preferred_username"
roles = ["researcher", "clinician"]
principals = { "a1b2" = "outsider" }

[[passport_visa_issuers]]
issuer = "https://ega.example.org/visas"
jwks_path = "keys/ega-jwks.json"
value_prefix = "https://ega.example.org/datasets/"
"""
    )
    settings = load_settings(home)
    (oidc,) = settings.oidc_issuers
    assert oidc.jwks_uri is None  # discovered from the issuer
    assert oidc.roles == [Role.RESEARCHER, Role.CLINICIAN]
    assert oidc.principals == {"a1b2": "outsider"}
    (visa,) = settings.passport_visa_issuers
    assert (visa.jwks_path, visa.by) == (Path("keys/ega-jwks.json"), ["dac"])

    monkeypatch.setenv(
        "HELGENOM_OIDC_ISSUERS",
        json.dumps([{"issuer": "https://idp.example.org", "audience": "a"}]),
    )
    assert load_settings(home).oidc_issuers[0].issuer == "https://idp.example.org"
    for bad in (
        [{"issuer": "https://idp.example.org"}],  # no audience
        [{"issuer": "http://idp.example.org", "audience": "a"}],  # plain http off loopback
        [{"issuer": "https://i", "audience": "a", "jwks_uri": "file:///etc/jwks.json"}],
        [{"issuer": "https://i", "audience": "a", "roles": ["wizard"]}],
    ):
        monkeypatch.setenv("HELGENOM_OIDC_ISSUERS", json.dumps(bad))
        with pytest.raises(ConfigurationError, match="oidc_issuers"):
            load_settings(home)
    config.write_text(original)


def test_block_tokens_carry_principal_and_grants_for_one_object_only(world: World) -> None:
    # htsget tickets hold block tokens, not the caller's token (see api/htsget.py)
    p = world.platform
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    grants = (
        VisaGrant(
            "PROJ-1",
            "https://visas.example.org",
            "https://data/PROJ-1",
            now + dt.timedelta(hours=1),
        ),
        VisaGrant(
            "PROJ-2",
            "https://visas.example.org",
            "https://data/PROJ-2",
            now - dt.timedelta(seconds=1),
        ),
    )
    ctx = make_context(p.directory.principal("researcher"), grants=grants)
    block = p.tokens.issue_block_token(ctx, "obj-a")
    found = p.tokens.authenticate_block(block, "obj-a")
    assert found.principal.name == "researcher"
    assert found.grants == grants[:1]  # the lapsed visa is dropped
    with pytest.raises(AuthenticationError, match="another object"):
        p.tokens.authenticate_block(block, "obj-b")
    with pytest.raises(AuthenticationError, match="another audience"):
        p.tokens.authenticate(block)  # no other route accepts it
    ordinary = local_token(world, "researcher")
    assert p.tokens.authenticate_block(ordinary, "obj-b").principal.name == "researcher"
    lapsed = p.tokens.issue_block_token(ctx, "obj-a", ttl=dt.timedelta(seconds=-120))
    with pytest.raises(AuthenticationError, match="expired"):
        p.tokens.authenticate_block(lapsed, "obj-a")
