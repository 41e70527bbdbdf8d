"""The FastAPI app: services built in the lifespan, bearer-token authentication, one
handler for every helgenom error, and routes that call one service method each.

Authentication: ``Authorization: Bearer <JWT>`` from the instance's issuer (``helgenom
token issue``), checked by :class:`helgenom.services.tokens.TokenService`; the request
context is the token's principal with the role's usual purpose (``X-Helgenom-Purpose`` and
``X-Helgenom-Project`` headers choose another purpose or a research project). Every route
but ``/health`` needs a token. Bodies are limited to :data:`MAX_BODY_BYTES`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask

from helgenom.api.errors import status_for
from helgenom.api.htsget import htsget_router
from helgenom.services import (
    AuthenticationError,
    HelgenomError,
    InvalidInputError,
    ResearchChoice,
)
from helgenom.services.platform import Platform, make_context, open_platform
from helgenom.services.settings import Settings

MAX_BODY_BYTES = 1 << 20
"""Largest request body accepted (1 MiB)."""

REPORT_MEDIA = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "fhir": "application/fhir+json",
}

DRS_MEDIA = {
    "fastq": "application/gzip",
    "bam": "application/octet-stream",
    "cram": "application/octet-stream",
    "vcf": "text/vcf",
    "gvcf": "text/vcf",
    "report": "application/octet-stream",
}
"""Media type by object kind (anything else is application/octet-stream)."""

_bearer = HTTPBearer(auto_error=False)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message})


def platform_of(request: Request) -> Platform:
    """The platform the lifespan opened."""
    platform: Platform = request.app.state.platform
    return platform


def context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    purpose: Annotated[str | None, Header(alias="X-Helgenom-Purpose")] = None,
    project: Annotated[str | None, Header(alias="X-Helgenom-Project")] = None,
) -> Any:
    # The instance's own tokens, or an external OIDC issuer's (with its Passport visas).
    found = platform_of(request).tokens.authenticate(_bearer_token(credentials))
    return make_context(found.principal, purpose=purpose, project=project, grants=found.grants)


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("give a bearer token: Authorization: Bearer <token>")
    return credentials.credentials


class ConsentChoices(BaseModel):
    """A citizen's choices; a field left out is unchanged."""

    model_config = ConfigDict(extra="forbid")

    research: ResearchChoice | None = None
    secondary_findings: bool | None = None
    recontact: bool | None = None


def _consent(view: Any) -> dict[str, Any]:
    state = view.state
    return {
        "research": state.research.value,
        "secondary_findings": state.secondary_findings,
        "recontact": state.recontact,
        "version": state.version,
        "as_of": None if state.as_of is None else state.as_of.isoformat(),
        "history": [
            {
                "recorded_at": e.recorded_at.isoformat(),
                "source": e.source,
                "research": None if e.research is None else e.research.value,
                "secondary_findings": e.secondary_findings,
                "recontact": e.recontact,
            }
            for e in view.history
        ],
    }


def block_context(
    request: Request,
    object_id: str,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    purpose: Annotated[str | None, Header(alias="X-Helgenom-Purpose")] = None,
    project: Annotated[str | None, Header(alias="X-Helgenom-Project")] = None,
) -> Any:
    """The context of an htsget data request: a ticket's block token for ``object_id``,
    or an ordinary bearer token."""
    token = _bearer_token(credentials)
    found = platform_of(request).tokens.authenticate_block(token, object_id)
    return make_context(found.principal, purpose=purpose, project=project, grants=found.grants)


def optional_context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    purpose: Annotated[str | None, Header(alias="X-Helgenom-Purpose")] = None,
    project: Annotated[str | None, Header(alias="X-Helgenom-Project")] = None,
) -> Any:
    """The token's context, or None without an Authorization header (a bad token is 401)."""
    if credentials is None:
        return None
    return context(request, credentials, purpose, project)


Ctx = Annotated[Any, Depends(context)]
MaybeCtx = Annotated[Any, Depends(optional_context)]
"""The request context of the bearer token's principal."""
Plat = Annotated[Platform, Depends(platform_of)]
"""The open platform of the app."""


def create_app(home: str | None = None, *, settings: Settings | None = None) -> FastAPI:
    """The app of the instance at ``home`` (or ``HELGENOM_HOME``); services open on startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = open_platform(home, settings=settings)
        app.state.platform = platform
        try:
            yield
        finally:
            platform.close()

    app = FastAPI(
        title="helgenom",
        summary="National genome platform: orders, cases, reports, consent, aggregates.",
        version="0.1.0",
        lifespan=lifespan,
    )

    @app.exception_handler(HelgenomError)
    async def helgenom_error(request: Request, exc: HelgenomError) -> JSONResponse:
        del request
        response = _error(status_for(exc.code), exc.code, str(exc))
        retry_after = getattr(exc, "retry_after", None)  # a spent quota (429)
        if isinstance(retry_after, int):
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return _error(413, "too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")
        return await call_next(request)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness (no authentication)."""
        return {"status": "ok"}

    @app.get("/me", tags=["service"])
    def me(ctx: Ctx) -> dict[str, Any]:
        """Who the token names."""
        actor = ctx.actor
        return {
            "name": actor.name,
            "role": actor.role.value,
            "organisation": actor.org_code,
            "purpose": ctx.purpose.value,
        }

    @app.get("/me/consent", tags=["citizen"])
    def my_consent(ctx: Ctx, p: Plat) -> dict[str, Any]:
        """A citizen's own consent choices and their history."""
        return _consent(p.consent.show_own(ctx))

    @app.put("/me/consent", tags=["citizen"])
    def set_my_consent(choices: ConsentChoices, ctx: Ctx, p: Plat) -> dict[str, Any]:
        """Record a citizen's own choices; they apply to the very next query."""
        view = p.consent.set_own(
            ctx,
            research=choices.research,
            secondary_findings=choices.secondary_findings,
            recontact=choices.recontact,
        )
        return _consent(view)

    @app.get("/me/access-log", tags=["citizen"])
    def my_access_log(ctx: Ctx, p: Plat) -> list[dict[str, Any]]:
        """Who used my data: role, organisation, time, purpose, action, decision."""
        return [
            {
                "at": line.occurred_at,
                "role": line.role,
                "organisation": line.organisation,
                "purpose": line.purpose,
                "action": line.action,
                "decision": line.decision,
            }
            for line in p.audit.own_log(ctx)
        ]

    @app.post("/fhir/ServiceRequest", status_code=201, tags=["clinical"])
    async def submit_order(request: Request, ctx: Ctx, p: Plat) -> dict[str, Any]:
        """Submit a FHIR ServiceRequest for whole-genome sequencing (clinicians)."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise InvalidInputError(f"request bodies are limited to {MAX_BODY_BYTES} bytes")
        submission = p.requisitions.submit(ctx, body)
        return {
            "requisition": submission.requisition_id,
            "department": submission.department,
            "indication": submission.indication,
            "priority": submission.priority.value,
            "samples": [
                {"sample": s.sample_id, "relationship": s.relationship.value}
                for s in submission.samples
            ],
        }

    @app.get("/samples/{sample_id}/history", tags=["clinical"])
    def sample_history(sample_id: str, ctx: Ctx, p: Plat) -> list[dict[str, Any]]:
        """Every state change of a sample (operators; the ordering department's care team)."""
        return [
            {
                "from": None if e.from_state is None else e.from_state.value,
                "to": e.to_state.value,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "reason": e.reason,
            }
            for e in p.samples.history(ctx, sample_id)
        ]

    @app.get("/cases/{case_id}", tags=["clinical"])
    def case(case_id: str, ctx: Ctx, p: Plat) -> dict[str, Any]:
        """A case and its latest candidates (the requesting department)."""
        record, analysis = p.cases.show(ctx, case_id)
        return {
            "case": record.case_id,
            "requisition": record.requisition_id,
            "status": record.status,
            "family": [
                {"sample": m.sample_id, "relationship": m.relationship, "sex": m.sex}
                for m in record.family
            ],
            "hpo_terms": list(record.hpo_terms),
            "analysis": None
            if analysis is None
            else {
                "id": analysis.analysis_id,
                "versions": analysis.versions,
                "candidates": list(analysis.candidates),
            },
        }

    @app.get("/cases/{case_id}/report", tags=["clinical"])
    def case_report(
        case_id: str,
        ctx: Ctx,
        p: Plat,
        format: Annotated[str, Query(pattern="^(pdf|html|fhir)$")] = "pdf",
    ) -> Response:
        """The issued report as PDF, HTML or a FHIR DiagnosticReport bundle (every view audited)."""
        work = p.settings.home / "work"
        work.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            out = Path(tmp) / "report"
            record = p.cases.report(ctx, case_id, out, fmt=format)
            content = out.read_bytes()
        return Response(
            content,
            media_type=REPORT_MEDIA[format],
            headers={
                "X-Helgenom-Report": record.report_id,
                "X-Helgenom-Digest": record.digest or "",
            },
        )

    @app.get("/ga4gh/drs/v1/objects/{object_id}", tags=["drs"])
    def drs_object(object_id: str, request: Request, ctx: Ctx, p: Plat) -> dict[str, Any]:
        """GA4GH DRS 1.x object metadata: size, SHA-256, access methods (authorised, audited)."""
        record = p.objects.describe(ctx, object_id)
        base = str(request.base_url).rstrip("/")
        return {
            "id": record.object_id,
            "self_uri": f"drs://{request.url.netloc}/{record.object_id}",
            "size": record.plaintext_size,
            "created_time": record.created_at.isoformat(),
            "mime_type": DRS_MEDIA.get(record.kind.value, "application/octet-stream"),
            "checksums": [{"type": "sha-256", "checksum": record.plaintext_sha256}],
            "description": f"{record.kind.value} of sample {record.sample_id}",
            "access_methods": [
                {
                    "type": "https",
                    "access_id": "https",
                    "access_url": {"url": f"{base}/ga4gh/drs/v1/objects/{record.object_id}/data"},
                }
            ],
        }

    @app.get("/ga4gh/drs/v1/objects/{object_id}/access/{access_id}", tags=["drs"])
    def drs_access(
        object_id: str, access_id: str, request: Request, ctx: Ctx, p: Plat
    ) -> dict[str, Any]:
        """The URL of an access method (``https``: the decrypting data route below)."""
        if access_id != "https":
            raise InvalidInputError(f"unknown access id {access_id!r}: this server offers https")
        p.objects.describe(ctx, object_id)
        base = str(request.base_url).rstrip("/")
        return {"url": f"{base}/ga4gh/drs/v1/objects/{object_id}/data"}

    @app.get("/ga4gh/drs/v1/objects/{object_id}/data", tags=["drs"])
    def drs_data(object_id: str, ctx: Ctx, p: Plat) -> Response:
        """The object's bytes, decrypted for an authorised reader (checked before it is sent,
        audited); sent from a private scratch file, removed afterwards."""
        work = p.settings.home / "work"
        work.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=work))
        try:
            record = p.objects.get(ctx, object_id, tmp / "object")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return FileResponse(
            tmp / "object",
            media_type=DRS_MEDIA.get(record.kind.value, "application/octet-stream"),
            headers={"X-Helgenom-Sha256": record.plaintext_sha256},
            background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
        )

    def beacon_base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/beacon"

    def beacon_call(request: Request, p: Platform, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except HelgenomError as exc:
            status = status_for(exc.code)
            retry_after = getattr(exc, "retry_after", None)  # the asker's spent query budget
            return JSONResponse(
                status_code=status,
                content=p.beacon.error(beacon_base(request), status, str(exc)),
                headers={"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None,
            )

    @app.get("/beacon", tags=["beacon"])
    @app.get("/beacon/info", tags=["beacon"])
    def beacon_info(request: Request, p: Plat) -> Any:
        """Beacon v2 info (no token needed)."""
        return p.beacon.document("info", beacon_base(request))

    @app.get("/beacon/g_variants", tags=["beacon"])
    def beacon_get(request: Request, ctx: MaybeCtx, p: Plat) -> Any:
        """g_variants by GET: boolean anonymously, counts with a token, records for an
        approved project's researcher."""
        params = dict(request.query_params)
        client = request.client.host if request.client else "unknown"
        return beacon_call(
            request,
            p,
            lambda: p.beacon.g_variants(
                ctx, base_url=beacon_base(request), client=client, params=params
            ),
        )

    @app.post("/beacon/g_variants", tags=["beacon"])
    async def beacon_post(request: Request, ctx: MaybeCtx, p: Plat) -> Any:
        """g_variants by POST (framework request body)."""
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        client = request.client.host if request.client else "unknown"
        if not isinstance(body, dict):
            return JSONResponse(
                status_code=400,
                content=p.beacon.error(beacon_base(request), 400, "the body must be a JSON object"),
            )
        return beacon_call(
            request,
            p,
            lambda: p.beacon.g_variants(
                ctx, base_url=beacon_base(request), client=client, body=body
            ),
        )

    @app.get("/beacon/{document}", tags=["beacon"])
    def beacon_document(document: str, request: Request, p: Plat) -> Any:
        """``configuration``, ``map``, ``entry_types`` or ``filtering_terms``."""
        if document not in ("configuration", "map", "entry_types", "filtering_terms"):
            return JSONResponse(
                status_code=404,
                content=p.beacon.error(beacon_base(request), 404, f"no endpoint {document}"),
            )
        return p.beacon.document(document, beacon_base(request))

    @app.get("/variants/{variant_id}/frequency", tags=["aggregates"])
    def frequency(
        variant_id: str,
        ctx: Ctx,
        p: Plat,
        set: Annotated[str, Query(pattern="^(clinical|research|public)$")] = "public",
    ) -> dict[str, Any]:
        """AC, AN, AF of a variant in a frequency set (consent applied at query time)."""
        report = p.variants.frequency(
            ctx, variant_ids=[variant_id], frequency_set=set, by=["overall"]
        )
        return {
            "rows": json.loads(json.dumps(report.rows, default=str)),
            "samples_counted": report.scope.samples_counted,
            "samples_excluded": report.scope.samples_excluded,
            "consent_as_of": report.scope.consent_as_of,
        }

    app.include_router(htsget_router(context, platform_of, block_context))
    return app


__all__ = ["MAX_BODY_BYTES", "create_app"]
