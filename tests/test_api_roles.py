"""Every endpoint x every role: who is let through and who is refused, over HTTP.

:data:`TABLE` has one row per route of the app (method and path template) and one column
per asker of :data:`ASKERS`: no token, one principal of every :class:`Role`, and the
relations the policy turns on (another department, another citizen, a researcher acting
for an approved project or for a project they are not in, a role declaring a purpose it
may not act for). Each cell is the expected status: 2xx, or 404/409 from the domain once
the access check has passed, for an allowed asker; 401 (no token) or 403 for a refused one.

:func:`test_every_route_has_a_row` enumerates ``app.routes``, so a new route without a
row fails, as does a new role without an asker. Routes under :data:`COVERED_ELSEWHERE`
(the htsget API) are tested by their own module, which must exist.

One instance serves the whole module (SQLite): the ``world`` of ``conftest`` plus a
signed case report of a simulated trio in department DEP-A and a DRS object of the
citizen's own sample.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from conftest import World, build_world, make_cpr
from helgenom.api.app import create_app
from helgenom.core.models import ObjectKind, Role
from helgenom.services.instance import init_instance
from helgenom.services.platform import open_platform
from helgenom.services.tokens import parse_ttl

TESTS = Path(__file__).resolve().parent

COVERED_ELSEWHERE: dict[str, str] = {
    "/ga4gh/htsget": "test_htsget.py",
}
"""Path prefix -> the test module that covers the routes under it, role by role."""


@dataclass(frozen=True)
class Asker:
    """Who sends a request: a principal of ``build_world`` (None: no token) and headers."""

    user: str | None
    role: Role | None
    purpose: str | None = None
    project: str | None = None


ASKERS: dict[str, Asker] = {
    "anonymous": Asker(None, None),
    "admin": Asker("admin", Role.ADMIN),
    "operator": Asker("operator", Role.OPERATOR),
    "clinician": Asker("clin-a", Role.CLINICIAN),
    "clinician-other-dept": Asker("clin-b", Role.CLINICIAN),
    "clinician-as-research": Asker("clin-a", Role.CLINICIAN, purpose="research"),
    "geneticist": Asker("gen-a", Role.GENETICIST),
    "geneticist-other-dept": Asker("gen-b", Role.GENETICIST),
    "researcher": Asker("researcher", Role.RESEARCHER),
    "researcher-in-project": Asker("researcher", Role.RESEARCHER, project="PROJ-1"),
    "researcher-not-member": Asker("outsider", Role.RESEARCHER, project="PROJ-1"),
    "steward": Asker("steward", Role.STEWARD),
    "citizen": Asker("citizen", Role.CITIZEN),
    "citizen-other": Asker("citizen2", Role.CITIZEN),
    "auditor": Asker("auditor", Role.AUDITOR),
}
"""The columns. DEP-A ordered the samples, the case and the object; ``citizen`` is the
person whose sample holds the DRS object."""


def row(default: int, **cells: int) -> dict[str, int]:
    """One row: ``default`` for every asker not named (names with ``_`` for ``-``)."""
    named = {name.replace("_", "-"): status for name, status in cells.items()}
    unknown = set(named) - set(ASKERS)
    assert not unknown, f"no such asker: {unknown}"
    return {asker: named.get(asker, default) for asker in ASKERS}


def public() -> dict[str, int]:
    """No token needed; a token, even one that may not act, changes nothing."""
    return row(200)


def token_needed(default: int, **cells: int) -> dict[str, int]:
    """401 without a token; 403 for a role declaring a purpose it may not act for."""
    return row(default, **{"anonymous": 401, "clinician_as_research": 403, **cells})


DEPARTMENT_CARE = {"clinician": 200, "geneticist": 200}
"""The ordering department's care team."""
AGGREGATES = {
    "operator": 200,
    "clinician": 200,
    "clinician_other_dept": 200,
    "geneticist": 200,
    "geneticist_other_dept": 200,
    "researcher": 200,
    "researcher_in_project": 200,
    "researcher_not_member": 200,
    "steward": 200,
}
"""The roles that may query aggregates (``variant.query``)."""

TABLE: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/openapi.json"): public(),
    ("GET", "/docs"): public(),
    ("GET", "/docs/oauth2-redirect"): public(),
    ("GET", "/redoc"): public(),
    ("GET", "/health"): public(),
    ("GET", "/me"): token_needed(200),
    ("GET", "/me/consent"): token_needed(403, citizen=200, citizen_other=200),
    ("PUT", "/me/consent"): token_needed(403, citizen=200, citizen_other=200),
    ("GET", "/me/access-log"): token_needed(403, citizen=200, citizen_other=200),
    # the order names DEP-A as the requester: a clinician orders for their own department
    ("POST", "/fhir/ServiceRequest"): token_needed(403, clinician=201),
    ("GET", "/samples/{sample_id}/history"): token_needed(403, operator=200, **DEPARTMENT_CARE),
    ("GET", "/cases/{case_id}"): token_needed(403, **DEPARTMENT_CARE),
    ("GET", "/cases/{case_id}/report"): token_needed(403, **DEPARTMENT_CARE),
    ("GET", "/ga4gh/drs/v1/objects/{object_id}"): token_needed(
        403, operator=200, citizen=200, **DEPARTMENT_CARE
    ),
    ("GET", "/ga4gh/drs/v1/objects/{object_id}/access/{access_id}"): token_needed(
        403, operator=200, citizen=200, **DEPARTMENT_CARE
    ),
    ("GET", "/ga4gh/drs/v1/objects/{object_id}/data"): token_needed(
        403, operator=200, citizen=200, **DEPARTMENT_CARE
    ),
    ("GET", "/beacon"): public(),
    ("GET", "/beacon/info"): public(),
    ("GET", "/beacon/{document}"): public(),
    # anonymous is the public audience; a token that names a role which may not query
    # aggregates is refused rather than answered as anonymous
    ("GET", "/beacon/g_variants"): token_needed(403, anonymous=200, **AGGREGATES),
    ("POST", "/beacon/g_variants"): token_needed(403, anonymous=200, **AGGREGATES),
    ("GET", "/variants/{variant_id}/frequency"): token_needed(403, **AGGREGATES),
}
"""Expected status per route and asker."""


# -- the instance ---------------------------------------------------------------------------


@dataclass
class RolesWorld:
    """The module's instance, its API and what the requests name."""

    world: World
    client: TestClient
    tokens: dict[str, str]
    sample: str
    """A sample of a DEP-A patient."""
    case: str
    """A DEP-A case with a signed report."""
    object: str
    """A DRS object (VCF) of the citizen's own sample."""
    variant: str
    """A variant of the genome database (1-based ``CONTIG-POS-REF-ALT``)."""
    orders: Iterator[int]
    """Indexes for fresh CPR numbers of new orders."""


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolesWorld]:
    import sqlalchemy as sa

    from helgenom.adapters.annotation.simtrio import simulate_gene_genome
    from helgenom.adapters.catalog.schema import samples
    from test_api import CATALOGUE
    from test_cases import enrol_trio, load_knowledge, open_case

    folder = tmp_path_factory.mktemp("roles")
    init_instance(folder / "instance")
    p = open_platform(str(folder / "instance"))
    try:
        world = build_world(p)
        p.indications.load(p.context(), CATALOGUE)
        genome = simulate_gene_genome(folder / "genome", seed=3)
        load_knowledge(p, genome)
        family = enrol_trio(world, genome, folder / "trio")
        case_id = open_case(p, family)
        p.cases.analyse(p.context("gen-a"), case_id)
        p.cases.sign(p.context("gen-a"), case_id)
        contig, length = next(iter(genome.contigs.items()))
        rows = p.variants.frequency(
            p.context("gen-a"), region=f"{contig}:1-{length}", frequency_set="public",
            by=["overall"],
        ).rows  # fmt: skip
        variant = str(rows[0]["variant_id"])

        def first_sample(cpr: str) -> str:
            requisition = p.persons.show(p.context("clin-a"), cpr).requisitions[0]
            with p.catalog.engine.connect() as conn:
                return str(
                    conn.execute(
                        sa.select(samples.c.id).where(samples.c.requisition_id == requisition)
                    ).scalar_one()
                )

        vcf = folder / "own.vcf"
        vcf.write_bytes(b"##fileformat=VCFv4.2\n" * 100)
        put = p.objects.put(
            p.context("operator"),
            vcf,
            sample_id=first_sample(world.citizen_cpr),
            kind=ObjectKind.VCF,
        )
        users = {a.user for a in ASKERS.values() if a.user is not None}
        tokens = {user: p.tokens.issue(p.context(), user, parse_ttl("1h")).token for user in users}
        for asker in ASKERS.values():
            if asker.user is not None:
                assert p.directory.principal(asker.user).role is asker.role, asker
        with TestClient(create_app(str(folder / "instance"))) as client:
            yield RolesWorld(
                world,
                client,
                tokens,
                first_sample(world.patient_a),
                case_id,
                put.record.object_id,
                variant,
                itertools.count(700),
            )
    finally:
        p.close()


# -- the requests -----------------------------------------------------------------------------


def _beacon_params(variant: str) -> dict[str, str]:
    contig, pos, ref, alt = variant.rsplit("-", 3)
    return {
        "referenceName": contig,
        "start": str(int(pos) - 1),
        "referenceBases": ref,
        "alternateBases": alt,
    }


def _beacon_body(variant: str) -> dict[str, Any]:
    params: dict[str, Any] = _beacon_params(variant)
    params["start"] = [int(params["start"])]
    return {"meta": {"apiVersion": "v2.0.0"}, "query": {"requestParameters": params}}


def _order(w: RolesWorld) -> dict[str, Any]:
    from test_requisitions import service_request

    return {"content": json.dumps(service_request(make_cpr(next(w.orders)), indication="R59"))}


Call = Callable[[RolesWorld], tuple[str, dict[str, Any]]]
"""The URL and the ``TestClient.request`` keywords of a route's request."""

CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/openapi.json"): lambda w: ("/openapi.json", {}),
    ("GET", "/docs"): lambda w: ("/docs", {}),
    ("GET", "/docs/oauth2-redirect"): lambda w: ("/docs/oauth2-redirect", {}),
    ("GET", "/redoc"): lambda w: ("/redoc", {}),
    ("GET", "/health"): lambda w: ("/health", {}),
    ("GET", "/me"): lambda w: ("/me", {}),
    ("GET", "/me/consent"): lambda w: ("/me/consent", {}),
    ("PUT", "/me/consent"): lambda w: ("/me/consent", {"json": {"recontact": True}}),
    ("GET", "/me/access-log"): lambda w: ("/me/access-log", {}),
    ("POST", "/fhir/ServiceRequest"): lambda w: ("/fhir/ServiceRequest", _order(w)),
    ("GET", "/samples/{sample_id}/history"): lambda w: (f"/samples/{w.sample}/history", {}),
    ("GET", "/cases/{case_id}"): lambda w: (f"/cases/{w.case}", {}),
    ("GET", "/cases/{case_id}/report"): lambda w: (f"/cases/{w.case}/report?format=html", {}),
    ("GET", "/ga4gh/drs/v1/objects/{object_id}"): lambda w: (
        f"/ga4gh/drs/v1/objects/{w.object}",
        {},
    ),
    ("GET", "/ga4gh/drs/v1/objects/{object_id}/access/{access_id}"): lambda w: (
        f"/ga4gh/drs/v1/objects/{w.object}/access/https",
        {},
    ),
    ("GET", "/ga4gh/drs/v1/objects/{object_id}/data"): lambda w: (
        f"/ga4gh/drs/v1/objects/{w.object}/data",
        {},
    ),
    ("GET", "/beacon"): lambda w: ("/beacon", {}),
    ("GET", "/beacon/info"): lambda w: ("/beacon/info", {}),
    ("GET", "/beacon/{document}"): lambda w: ("/beacon/configuration", {}),
    ("GET", "/beacon/g_variants"): lambda w: (
        "/beacon/g_variants",
        {"params": _beacon_params(w.variant)},
    ),
    ("POST", "/beacon/g_variants"): lambda w: (
        "/beacon/g_variants",
        {"json": _beacon_body(w.variant)},
    ),
    ("GET", "/variants/{variant_id}/frequency"): lambda w: (
        f"/variants/{w.variant}/frequency?set=public",
        {},
    ),
}


def _headers(w: RolesWorld, asker: Asker) -> dict[str, str]:
    headers: dict[str, str] = {}
    if asker.user is not None:
        headers["Authorization"] = f"Bearer {w.tokens[asker.user]}"
    if asker.purpose is not None:
        headers["X-Helgenom-Purpose"] = asker.purpose
    if asker.project is not None:
        headers["X-Helgenom-Project"] = asker.project
    return headers


# -- the tests --------------------------------------------------------------------------------


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, included routers' routes too (HEAD left
    out: it follows GET; a route without methods, such as a mount, is ``*``)."""
    app = create_app("/nonexistent-helgenom-home")
    # FastAPI >= 0.16x keeps included routers as nodes of app.routes; this walks them
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: list[Any] = list(flatten(app.routes)) if flatten is not None else list(app.routes)
    found: set[tuple[str, str]] = set()
    for route in routes:
        path = getattr(route, "path", None)
        assert path, f"a route without a path: {route!r}"
        methods = getattr(route, "methods", None) or {"*"}
        for method in sorted(set(methods) - {"HEAD"}):
            found.add((method, str(path)))
    return found


def test_every_route_has_a_row() -> None:
    routes = app_routes()
    elsewhere = {
        (method, path)
        for method, path in routes
        for prefix in COVERED_ELSEWHERE
        if path == prefix or path.startswith(prefix + "/")
    }
    for prefix, module in COVERED_ELSEWHERE.items():
        if any(path.startswith(prefix) for _method, path in elsewhere):
            covering = TESTS / module
            assert covering.is_file(), f"routes under {prefix} need their tests in {module}"
            assert prefix in covering.read_text(encoding="utf-8"), f"{module} names no {prefix}"
    missing = sorted(routes - elsewhere - set(TABLE))
    assert not missing, f"routes without a row in TABLE (add one, every asker): {missing}"
    stale = sorted(set(TABLE) - routes)
    assert not stale, f"rows in TABLE for routes the app no longer has: {stale}"
    assert set(CALLS) == set(TABLE)


def test_every_role_has_an_asker() -> None:
    assert {a.role for a in ASKERS.values()} - {None} == set(Role)
    assert all(set(cells) == set(ASKERS) for cells in TABLE.values())


CASES = [
    pytest.param(route, asker, status, id=f"{route[0]} {route[1]} as {asker}")
    for route, cells in TABLE.items()
    for asker, status in cells.items()
]


@pytest.mark.parametrize(("route", "asker", "expected"), CASES)
def test_route_as_asker(rw: RolesWorld, route: tuple[str, str], asker: str, expected: int) -> None:
    url, kwargs = CALLS[route](rw)
    method = route[0]
    response = rw.client.request(method, url, headers=_headers(rw, ASKERS[asker]), **kwargs)
    got = response.status_code
    assert got == expected, f"{method} {url} as {asker}: {got} {response.text[:300]}"
    if got in (401, 403):
        body = response.json()
        error = body["error"]
        # the Beacon answers in its framework's error document, the rest in helgenom's
        code = error["errorCode"] if isinstance(error, dict) else body["error"]
        assert code in (got, "authentication_failed", "permission_denied", "consent_denied")
