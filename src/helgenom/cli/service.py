"""``helgenom serve`` and ``helgenom token issue``: the HTTP API and its bearer tokens."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from helgenom.cli.main import _state, err, out
from helgenom.services import ConfigurationError

token_app: typer.Typer = typer.Typer(
    help="Bearer tokens of the instance's own issuer.", no_args_is_help=True
)


@token_app.command("issue")
def token_issue(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The principal the token names.")],
    ttl: Annotated[str, typer.Option(help="Lifetime: 90s, 15m, 1h (at most 12h).")] = "1h",
) -> None:
    """Issue a bearer token (admin; audited, the token itself is not kept)."""
    from helgenom.services.tokens import parse_ttl

    state = _state(ctx)
    issued = state.platform().tokens.issue(state.context(), user, parse_ttl(ttl))
    typer.echo(issued.token)
    err.print(
        f"token {issued.token_id} for {issued.subject}, valid until "
        f"{issued.expires_at:%Y-%m-%d %H:%M} UTC: send it as Authorization: Bearer <token>"
    )


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes (one per core is typical).")
    ] = 1,
) -> None:
    """Run the HTTP API (FastAPI on uvicorn; OpenAPI at /docs and /openapi.json)."""
    try:
        import uvicorn

        from helgenom.api.app import create_app
    except ImportError:
        raise ConfigurationError("the API needs its extra: pip install 'helgenom[api]'") from None
    state = _state(ctx)
    settings = state.platform().settings
    out.print(
        f"helgenom API on http://{host}:{port} (instance {settings.home}, {workers} "
        f"process(es)); Ctrl-C stops it"
    )
    if workers == 1:
        uvicorn.run(create_app(settings=settings), host=host, port=port, log_level="info")
        return
    # Each worker process builds its own app of the same instance (the Beacon budget
    # ledger and the variant tables take file locks, so processes share them safely).
    os.environ["HELGENOM_HOME"] = str(settings.home)
    uvicorn.run(
        "helgenom.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


__all__ = ["serve", "token_app"]
