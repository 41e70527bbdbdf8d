"""GA4GH htsget 1.3 routes: reads and variants tickets, their data blocks, service-info.

``GET``/``POST /ga4gh/htsget/v1/{reads,variants}/{id}`` answer a ticket whose URLs point
at ``/ga4gh/htsget/v1/data/{object_id}`` with a ``Range`` header; the data route checks
access again. Each URL's headers carry a block token (``Authorization: Bearer``): the same
principal and visa grants as the request's token, valid 10 minutes and only on the data
route of that object (the caller's own token is never repeated in a response body), and
the request's ``X-Helgenom-Purpose``/``-Project`` and client-key headers, so a client that
sends each URL's headers gets the same decision. The data route takes an ordinary bearer
token too.

Crypt4GH: a client sends its public key as ``htsget-client-public-key`` (base64 of the
key file written by ``crypt4gh-keygen``; ``client-public-key`` is accepted too); every
block is then a Crypt4GH stream for that key, to be decrypted block by block.

Errors use htsget's own body, ``{"htsget": {"error": "NotFound", "message": ...}}``,
with the specification's status codes; the route class below maps every helgenom error
(including failed authentication in the dependencies) once.
"""

import base64
import binascii
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from helgenom.api.errors import status_for
from helgenom.services import HelgenomError
from helgenom.services.htsget import PUBLIC_KEY_HEADER, HtsgetInputError, Ticket

PREFIX = "/ga4gh/htsget/v1"
KEY_HEADERS = (PUBLIC_KEY_HEADER, "client-public-key")
"""Request headers read for a client's Crypt4GH public key, in order."""
FORWARDED = ("x-helgenom-purpose", "x-helgenom-project")
"""Request headers repeated in every URL of a ticket (besides its block token)."""

HTSGET_ERRORS = {
    400: "InvalidInput",
    401: "InvalidAuthentication",
    403: "PermissionDenied",
    404: "NotFound",
    409: "InvalidInput",
    413: "InvalidInput",
    422: "InvalidInput",
}
"""htsget error name per HTTP status (anything else is a server error)."""


def htsget_error(exc: HelgenomError) -> JSONResponse:
    """An htsget error body for a helgenom error."""
    status = status_for(exc.code)
    name = getattr(exc, "htsget_error", None) or HTSGET_ERRORS.get(status, "InternalError")
    return JSONResponse(
        status_code=status, content={"htsget": {"error": name, "message": str(exc)}}
    )


class HtsgetRoute(APIRoute):
    """A route whose errors (dependencies included) come back in htsget's error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HelgenomError as exc:
                return htsget_error(exc)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                return htsget_error(HtsgetInputError(problems or "invalid request"))

        return handle


def _client_key(request: Request) -> bytes | None:
    for name in KEY_HEADERS:
        value = request.headers.get(name)
        if value is not None:
            try:
                return base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise HtsgetInputError(
                    f"the {name} header must be base64 (of a Crypt4GH public key file)"
                ) from None
    return None


def _render(ticket: Ticket, request: Request, mint: Callable[[str], str]) -> dict[str, Any]:
    """The ticket's JSON; ``mint(object_id)`` makes the block token of an object's URLs."""
    base = str(request.base_url).rstrip("/") + PREFIX + "/data/"
    tokens: dict[str, str] = {}
    forwarded = {
        name.title(): request.headers[name] for name in FORWARDED if name in request.headers
    }
    for name in KEY_HEADERS:
        if name in request.headers:
            forwarded[name] = request.headers[name]
            break
    urls: list[dict[str, Any]] = []
    for block in ticket.blocks:
        if block.inline is not None:
            url = "data:;base64," + base64.b64encode(block.inline).decode("ascii")
            urls.append({"url": url, "class": block.data_class})
        else:
            object_id = str(block.object_id)
            if object_id not in tokens:
                tokens[object_id] = mint(object_id)
            headers = {
                "Authorization": f"Bearer {tokens[object_id]}",
                **forwarded,
                "Range": f"bytes={block.start}-{block.end - 1}",
            }
            urls.append(
                {"url": base + str(block.object_id), "headers": headers, "class": block.data_class}
            )
    return {"htsget": {"format": ticket.format.value, "urls": urls}}


def _range(value: str | None) -> tuple[int, int]:
    if value is None:
        raise HtsgetInputError("give the block's Range header from the ticket: bytes=START-END")
    unit, _, span = value.partition("=")
    first, dash, last = span.strip().partition("-")
    if unit.strip() != "bytes" or not dash or not first.isdigit() or not last.isdigit():
        raise HtsgetInputError(f"Range {value!r} must be bytes=START-END (one range, inclusive)")
    return int(first), int(last) + 1


def htsget_router(
    context: Callable[..., Any],
    platform_of: Callable[..., Any],
    block_context: Callable[..., Any],
) -> APIRouter:
    """The htsget routes, using the app's request-context (ordinary and of a block token)
    and platform dependencies."""
    Ctx = Annotated[Any, Depends(context)]
    BlockCtx = Annotated[Any, Depends(block_context)]
    Plat = Annotated[Any, Depends(platform_of)]
    router = APIRouter(prefix=PREFIX, tags=["htsget"], route_class=HtsgetRoute)

    @router.get("/reads/service-info")
    def reads_service_info(p: Plat) -> dict[str, Any]:
        """GA4GH service-info of the reads endpoint (no token needed)."""
        info: dict[str, Any] = p.htsget.service_info("reads")
        return info

    @router.get("/variants/service-info")
    def variants_service_info(p: Plat) -> dict[str, Any]:
        """GA4GH service-info of the variants endpoint (no token needed)."""
        info: dict[str, Any] = p.htsget.service_info("variants")
        return info

    @router.get("/data/{object_id}")
    def data(object_id: str, request: Request, ctx: BlockCtx, p: Plat) -> Response:
        """One block of a ticket: the plaintext bytes of the Range, or a Crypt4GH stream
        of them for the client's key (checked and audited like the ticket)."""
        start, end = _range(request.headers.get("range"))
        block = p.htsget.block(ctx, object_id, start, end, client_key=_client_key(request))
        if block.encrypted:
            return Response(
                block.data,
                media_type="application/octet-stream",
                headers={"X-Helgenom-Encryption": "crypt4gh"},
            )
        return Response(
            block.data,
            status_code=206,
            media_type="application/octet-stream",
            headers={"Content-Range": f"bytes {block.start}-{block.end - 1}/{block.size}"},
        )

    @router.get("/{endpoint}/{ident}")
    def ticket_get(endpoint: str, ident: str, request: Request, ctx: Ctx, p: Plat) -> Any:
        """An htsget ticket (query: format, class, referenceName, start, end, fields, tags,
        notags); ``endpoint`` is ``reads`` or ``variants``."""
        ticket = p.htsget.ticket(
            ctx,
            endpoint,
            ident,
            params=dict(request.query_params),
            client_key=_client_key(request),
        )
        return _render(ticket, request, lambda oid: p.tokens.issue_block_token(ctx, oid))

    @router.post("/{endpoint}/{ident}")
    async def ticket_post(endpoint: str, ident: str, request: Request, ctx: Ctx, p: Plat) -> Any:
        """An htsget ticket for a JSON body (format, class, fields, tags, notags, regions)."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise HtsgetInputError("the body must be JSON") from None
        ticket = p.htsget.ticket(ctx, endpoint, ident, body=body, client_key=_client_key(request))
        return _render(ticket, request, lambda oid: p.tokens.issue_block_token(ctx, oid))

    return router


__all__ = ["PREFIX", "HtsgetRoute", "htsget_router"]
