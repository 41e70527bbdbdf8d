"""The end of ``helgenom demo``: the HTTP API of the demo instance, tried for real.

Starts the API (uvicorn) on a free loopback port in a thread, sends a handful of requests
with the demo's users' bearer tokens (the Beacon for each audience, a citizen's access
log, a case report, a DRS object, an htsget ticket, a denied request), stops it, and
prints the commands that start it again and the curl lines to try by hand.
"""

from __future__ import annotations

import json
import shlex
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from helgenom.services.demo import DemoReport, beacon_query


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request of the tour and its answer."""

    who: str
    method: str
    path: str
    status: int
    answer: str


@dataclass
class ApiTour:
    """What the tour did, and how to do it again."""

    calls: list[ApiCall]
    try_lines: list[str]
    skipped: str = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(base + path, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _summary(status: int, data: bytes, headers: dict[str, str]) -> str:
    kind = headers.get("content-type", headers.get("Content-Type", ""))
    if "json" not in kind:
        return f"{len(data):,} bytes of {kind.split(';')[0] or 'data'}"
    doc: Any = json.loads(data or b"null")
    if isinstance(doc, dict) and "responseSummary" in doc:
        summary = doc["responseSummary"]
        granularity = doc.get("meta", {}).get("returnedGranularity", "")
        if "numTotalResults" in summary:
            return f"{granularity}: {summary['numTotalResults']} result(s)"
        return f"{granularity}: exists={summary['exists']}"
    if isinstance(doc, dict) and "htsget" in doc:
        ticket = doc["htsget"]
        if "urls" in ticket:
            return f"{ticket['format']} ticket, {len(ticket['urls'])} URL(s)"
        return f"{ticket.get('error')}: {ticket.get('message', '')}"
    if isinstance(doc, dict) and "error" in doc:
        return f"{doc['error']}: {doc.get('message', '')}"
    if isinstance(doc, list):
        return f"{len(doc)} entr{'y' if len(doc) == 1 else 'ies'}"
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        types = [e["resource"]["resourceType"] for e in doc.get("entry", [])]
        return f"FHIR Bundle: {', '.join(sorted(set(types)))}"
    if isinstance(doc, dict) and "rows" in doc and doc["rows"]:
        row = doc["rows"][0]
        return f"AC {row['ac']} / AN {row['an']} of {doc['samples_counted']} samples"
    if isinstance(doc, dict) and "research" in doc and "history" in doc:
        return (
            f"research {doc['research']}, secondary findings {doc['secondary_findings']}, "
            f"{len(doc['history'])} change(s)"
        )
    if isinstance(doc, dict) and "meta" in doc and "response" in doc:
        return f"beacon {doc['response'].get('id', '')}, API {doc['meta'].get('apiVersion')}"
    if isinstance(doc, dict) and "checksums" in doc:
        return f"size {doc['size']:,}, sha-256 {doc['checksums'][0]['checksum'][:16]}..."
    text = json.dumps(doc)
    return text if len(text) <= 80 else text[:77] + "..."


def run_api_tour(report: DemoReport) -> ApiTour:
    """Start the demo instance's API on loopback, try it, stop it (module doc)."""
    home = report.home
    quoted = shlex.quote(str(home))
    try_lines = [
        f"helgenom --home {quoted} serve --port 8000 &",
        f"TOKEN=$(helgenom --home {quoted} token issue --user dr.hansen)",
        'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/me',
        "curl 'http://127.0.0.1:8000/beacon/g_variants?"
        + "&".join(f"{k}={v}" for k, v in _variant_query(report).items())
        + "'",
    ]
    if report.clinical is not None:
        try_lines.append(
            'curl -H "Authorization: Bearer $TOKEN" '
            f"http://127.0.0.1:8000/cases/{report.clinical.case_id}/report?format=pdf -o report.pdf"
        )
    if report.pipeline is not None:
        try_lines.append(
            'curl -H "Authorization: Bearer $TOKEN" '
            f"'http://127.0.0.1:8000/ga4gh/htsget/v1/reads/{report.pipeline.sample_id}"
            "?referenceName=chr1&end=10000'"
        )
    try:
        import uvicorn

        from helgenom.api.app import create_app
        from helgenom.services.platform import open_platform
        from helgenom.services.tokens import parse_ttl
    except ImportError:
        return ApiTour([], try_lines, "the API needs its extra: pip install 'helgenom[api]'")

    users = ["dr.hansen", "dr.nielsen", "citizen.anna", "res.olsen", "op.jensen", "gen.larsen"]
    with open_platform(str(home)) as p:
        admin = p.context()
        tokens = {u: p.tokens.issue(admin, u, parse_ttl("15m")).token for u in users}
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(str(home)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="helgenom-demo-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            return ApiTour([], try_lines, "the API did not start on loopback")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    calls: list[ApiCall] = []
    try:
        for who, path in _tour(report):
            sent = {} if who not in tokens else {"Authorization": f"Bearer {tokens[who]}"}
            if who == "res.olsen":
                sent["X-Helgenom-Project"] = "GENE-HEART-01"
            status, data, headers = _request(base, path, sent)
            calls.append(ApiCall(who, "GET", path, status, _summary(status, data, headers)))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return ApiTour(calls, try_lines)


def _variant_query(report: DemoReport) -> dict[str, str]:
    variant = "chr1-100-A-G"
    if report.variants is not None and report.variants.lines:
        variant = report.variants.lines[0].variant_id
    return beacon_query(variant)


def _tour(report: DemoReport) -> list[tuple[str, str]]:
    """(user or ``anonymous``, path) of each request."""
    query = "&".join(f"{k}={v}" for k, v in _variant_query(report).items())
    steps: list[tuple[str, str]] = [
        ("anonymous", "/health"),
        ("anonymous", "/beacon/info"),
        ("anonymous", f"/beacon/g_variants?{query}"),
        ("dr.hansen", f"/beacon/g_variants?{query}&requestedGranularity=count"),
        ("res.olsen", f"/beacon/g_variants?{query}&requestedGranularity=record"),
        ("citizen.anna", "/me/consent"),
        ("citizen.anna", "/me/access-log"),
        ("anonymous", "/me/access-log"),
    ]
    if report.variants is not None and report.variants.lines:
        steps.append(
            ("dr.hansen", f"/variants/{report.variants.lines[0].variant_id}/frequency?set=public")
        )
    if report.clinical is not None:
        case = report.clinical.case_id
        steps += [
            ("dr.hansen", f"/cases/{case}/report?format=fhir"),
            ("dr.nielsen", f"/cases/{case}"),
        ]
    if report.pipeline is not None:
        cram = report.pipeline.run.outputs.get("cram")
        sample = report.pipeline.sample_id
        if cram:
            steps += [
                ("op.jensen", f"/ga4gh/drs/v1/objects/{cram}"),
                ("res.olsen", f"/ga4gh/drs/v1/objects/{cram}"),
                ("gen.larsen", f"/ga4gh/htsget/v1/reads/{sample}?referenceName=chr1&end=10000"),
                ("gen.larsen", f"/ga4gh/htsget/v1/variants/{sample}?referenceName=chr1"),
                ("anonymous", f"/ga4gh/htsget/v1/reads/{sample}"),
            ]
    return steps


__all__ = ["ApiCall", "ApiTour", "run_api_tour"]
