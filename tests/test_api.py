"""The HTTP API: bearer tokens, the error mapping, body limits and the first routes.

Each test runs the real FastAPI app (``TestClient``, lifespan included) on its own
instance; tokens come from the instance's issuer (ES256, the instance's token key).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from conftest import World, make_cpr
from helgenom.api.app import MAX_BODY_BYTES, create_app
from helgenom.core.errors import InvalidInputError, PermissionDeniedError
from helgenom.services.tokens import parse_ttl

CATALOGUE = {
    "format_version": 1,
    "indications": [
        {"code": "R59", "name": "Epilepsy", "gene_panel": "p1", "departments": ["DEP-A"]}
    ],
}


def token(world: World, user: str, ttl: str = "15m") -> str:
    p = world.platform
    return p.tokens.issue(p.context(), user, parse_ttl(ttl)).token


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def client(world: World) -> TestClient:
    home = str(world.platform.settings.home)
    with TestClient(create_app(home)) as c:
        yield c  # type: ignore[misc]


def test_health_and_openapi_need_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/me", "/fhir/ServiceRequest", "/cases/{case_id}/report"} <= set(paths)


def test_tokens_are_checked(world: World, client: TestClient) -> None:
    missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.json()["error"] == "authentication_failed"
    assert client.get("/me", headers=auth("not-a-jwt")).status_code == 401
    good = token(world, "clin-a")
    me = client.get("/me", headers=auth(good)).json()
    assert me == {
        "name": "clin-a",
        "role": "clinician",
        "organisation": "DEP-A",
        "purpose": "clinical_care",
    }
    p = world.platform
    pem = p.keys.load_token_signing_pem().reveal()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"iss": p.tokens.issuer, "aud": p.tokens.audience, "sub": "clin-a", "iat": now}
    expired = jwt.encode({**claims, "exp": now - 3600}, pem, algorithm="ES256")
    assert "expired" in client.get("/me", headers=auth(expired)).json()["message"]
    other_aud = jwt.encode({**claims, "aud": "x", "exp": now + 60}, pem, algorithm="ES256")
    assert "audience" in client.get("/me", headers=auth(other_aud)).json()["message"]
    forged_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    forged = jwt.encode({**claims, "exp": now + 60}, forged_key, algorithm="ES256")
    assert client.get("/me", headers=auth(forged)).status_code == 401
    nobody = jwt.encode({**claims, "sub": "ghost", "exp": now + 60}, pem, algorithm="ES256")
    assert "unknown user" in client.get("/me", headers=auth(nobody)).json()["message"]
    assert good not in json.dumps(client.get("/me", headers=auth(forged)).json())


def test_only_admins_issue_tokens(world: World) -> None:
    p = world.platform
    with pytest.raises(PermissionDeniedError):
        p.tokens.issue(p.context("clin-a"), "clin-a", parse_ttl("1h"))
    for bad in ("0m", "13h", "1 hour", "-5m"):
        with pytest.raises(InvalidInputError):
            parse_ttl(bad)


def test_order_history_and_errors(world: World, client: TestClient) -> None:
    from test_requisitions import service_request

    p = world.platform
    p.indications.load(p.context(), CATALOGUE)
    order = service_request(make_cpr(610), indication="R59")
    clin = auth(token(world, "clin-a"))
    created = client.post("/fhir/ServiceRequest", headers=clin, content=json.dumps(order))
    assert created.status_code == 201, created.text
    sample = created.json()["samples"][0]["sample"]
    assert client.post("/fhir/ServiceRequest", headers=clin, json=order).status_code == 409
    bad = client.post("/fhir/ServiceRequest", headers=clin, json={"resourceType": "Patient"})
    assert bad.status_code == 422
    assert bad.json()["error"] == "fhir_invalid"
    big = client.post("/fhir/ServiceRequest", headers=clin, content=b"x" * (MAX_BODY_BYTES + 1))
    assert big.status_code == 413
    history = client.get(f"/samples/{sample}/history", headers=auth(token(world, "operator")))
    assert [h["to"] for h in history.json()] == ["ordered"]
    denied = client.get(f"/samples/{sample}/history", headers=auth(token(world, "clin-b")))
    assert denied.status_code == 403
    assert denied.json()["error"] == "permission_denied"
    assert client.get("/samples/S-NOPE/history", headers=clin).status_code == 404
    assert client.get("/variants/chr1-1-A-C/frequency?set=secret", headers=clin).status_code == 422


def test_report_reaches_the_requesting_department_only(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    from helgenom.adapters.annotation.simtrio import simulate_gene_genome
    from test_cases import enrol_trio, load_knowledge, open_case

    p = world.platform
    genome = simulate_gene_genome(tmp_path / "genome", seed=3)
    load_knowledge(p, genome)
    family = enrol_trio(world, genome, tmp_path / "trio")
    case_id = open_case(p, family)
    p.cases.analyse(p.context("gen-a"), case_id)
    signed = p.cases.sign(p.context("gen-a"), case_id)
    pdf = client.get(f"/cases/{case_id}/report", headers=auth(token(world, "clin-a")))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.headers["x-helgenom-digest"] == signed.digest
    fhir = client.get(
        f"/cases/{case_id}/report?format=fhir", headers=auth(token(world, "gen-a"))
    ).json()
    assert fhir["resourceType"] == "Bundle"
    shown = client.get(f"/cases/{case_id}", headers=auth(token(world, "gen-a"))).json()
    assert shown["analysis"]["candidates"][0]["rank"] == 1
    for outsider in ("clin-b", "gen-b", "operator"):
        got = client.get(f"/cases/{case_id}/report", headers=auth(token(world, outsider)))
        assert got.status_code == 403, outsider


def test_citizen_reads_and_sets_own_consent_and_access_log(
    world: World, client: TestClient
) -> None:
    citizen = auth(token(world, "citizen"))
    before = client.get("/me/consent", headers=citizen)
    assert before.status_code == 200, before.text
    assert before.json()["research"] == "allow"
    changed = client.put(
        "/me/consent", headers=citizen, json={"research": "opt-out", "recontact": True}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["research"], body["recontact"], body["version"]) == ("opt-out", True, 1)
    assert client.put("/me/consent", headers=citizen, json={}).status_code == 400
    assert client.put("/me/consent", headers=citizen, json={"cpr": "x"}).status_code == 422
    assert client.put("/me/consent", headers=citizen, json={"research": "maybe"}).status_code == 422
    log = client.get("/me/access-log", headers=citizen).json()
    assert {"consent.write", "consent.read"} <= {line["action"] for line in log}
    assert all("actor" not in line for line in log)
    clinician = client.get("/me/consent", headers=auth(token(world, "clin-a")))
    assert clinician.status_code == 403
    assert "only citizens" in clinician.json()["message"]
    p = world.platform
    assert p.consent.show(p.context("clin-a"), world.citizen_cpr).state.research_opt_out


def test_serve_runs_the_api_on_loopback(world: World, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = str(world.platform.settings.home)
    cmd = [sys.executable, "-m", "helgenom", "--home", home, "serve", "--port", str(port)]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    assert json.load(r) == {"status": "ok"}
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                time.sleep(0.3)
        request = urllib.request.Request(f"{base}/me", headers=auth(token(world, "gen-a")))
        with urllib.request.urlopen(request, timeout=5) as r:
            assert json.load(r)["role"] == "geneticist"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{base}/me", timeout=5)
        assert denied.value.code == 401
        denied.value.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def test_drs_objects_for_authorised_readers_only(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    import hashlib

    from helgenom.core.models import ObjectKind

    p = world.platform
    data = b"##fileformat=VCFv4.2\n" * 4000
    path = tmp_path / "a.vcf"
    path.write_bytes(data)
    sample = p.persons.show(p.context("clin-a"), world.patient_a).requisitions[0]
    import sqlalchemy as sa

    from helgenom.adapters.catalog.schema import samples

    with p.catalog.engine.connect() as conn:
        sample = conn.execute(
            sa.select(samples.c.id).where(samples.c.requisition_id == sample)
        ).scalar_one()
    put = p.objects.put(p.context("operator"), path, sample_id=sample, kind=ObjectKind.VCF)
    oid = put.record.object_id
    gen = auth(token(world, "gen-a"))
    meta = client.get(f"/ga4gh/drs/v1/objects/{oid}", headers=gen)
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["size"] == len(data)
    assert body["checksums"] == [{"type": "sha-256", "checksum": hashlib.sha256(data).hexdigest()}]
    url = client.get(f"/ga4gh/drs/v1/objects/{oid}/access/https", headers=gen).json()["url"]
    assert url.endswith(f"/ga4gh/drs/v1/objects/{oid}/data")
    got = client.get(f"/ga4gh/drs/v1/objects/{oid}/data", headers=gen)
    assert got.content == data
    assert got.headers["x-helgenom-sha256"] == hashlib.sha256(data).hexdigest()
    assert not [f for f in (p.settings.home / "work").iterdir() if f.name.startswith("tmp")]
    for outsider in ("gen-b", "clin-b", "researcher"):
        denied = client.get(f"/ga4gh/drs/v1/objects/{oid}", headers=auth(token(world, outsider)))
        assert denied.status_code == 403, outsider
        data_denied = client.get(
            f"/ga4gh/drs/v1/objects/{oid}/data", headers=auth(token(world, outsider))
        )
        assert data_denied.status_code == 403
    assert client.get("/ga4gh/drs/v1/objects/OBJ-NOPE", headers=gen).status_code == 404
    bad = client.get(f"/ga4gh/drs/v1/objects/{oid}/access/s3", headers=gen)
    assert bad.status_code == 400


def test_beacon_answers_by_audience(world: World, client: TestClient, tmp_path: Path) -> None:
    from helgenom.adapters.variants.cohort import simulate_cohort
    from test_variants_service import enrol

    p = world.platform
    cohort = simulate_cohort(tmp_path / "cohort", samples=12, length=30_000, seed=11, gvcf=True)
    enrolled = enrol(world, cohort)
    p.variants.ingest_batch(p.context("operator"), enrolled.items, workers=0)
    rows = p.variants.frequency(
        p.context("clin-a"), region=f"{cohort.contig}:1-30000", frequency_set="public",
        by=["overall"],
    ).rows  # fmt: skip
    common = next(r for r in rows if r["ac"] >= 8 and r["an"] - r["ac"] >= 8)
    rare = next(r for r in rows if r["ac"] == 1)

    def query(variant_id: str) -> dict[str, str]:
        contig, pos, ref, alt = variant_id.rsplit("-", 3)
        return {
            "referenceName": contig,
            "start": str(int(pos) - 1),
            "referenceBases": ref,
            "alternateBases": alt,
            "requestedGranularity": "record",
        }

    info = client.get("/beacon/info").json()
    assert info["meta"]["apiVersion"].startswith("v2")
    anonymous = client.get("/beacon/g_variants", params=query(common["variant_id"])).json()
    assert anonymous["responseSummary"]["exists"] is True
    assert "numTotalResults" not in anonymous["responseSummary"]
    hidden = client.get("/beacon/g_variants", params=query(rare["variant_id"])).json()
    assert hidden["responseSummary"]["exists"] is False
    registered = client.get(
        "/beacon/g_variants",
        params=query(common["variant_id"]),
        headers=auth(token(world, "clin-a")),
    ).json()
    assert registered["responseSummary"]["numTotalResults"] == 1
    assert registered["meta"]["returnedGranularity"] == "count"
    rare_registered = client.get(
        "/beacon/g_variants", params=query(rare["variant_id"]), headers=auth(token(world, "gen-a"))
    ).json()
    assert rare_registered["responseSummary"]["exists"] is True
    entry = p.audit.log(p.context("auditor"), limit=1)[0]
    assert entry.action == "variant.query"
    assert len(entry.subjects) == 1  # the rare allele's carrier, for their log
    researcher = {**auth(token(world, "researcher")), "X-Helgenom-Project": world.project}
    records = client.get(
        "/beacon/g_variants", params=query(common["variant_id"]), headers=researcher
    ).json()
    assert records["meta"]["returnedGranularity"] == "record"
    bad = client.get("/beacon/g_variants", params={"referenceName": "chr1", "start": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["errorCode"] == 400
    assert client.get("/beacon/nowhere").status_code == 404
    assert client.get("/beacon/g_variants", headers=auth("forged")).status_code == 401
