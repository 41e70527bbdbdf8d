"""Property-based requests against the API's own OpenAPI description (schemathesis):
no generated request may get a 5xx, anonymous or with a clinician's, citizen's or
operator's bearer token."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from conftest import build_world
from helgenom.api.app import create_app
from helgenom.services.instance import init_instance
from helgenom.services.platform import open_platform
from helgenom.services.tokens import parse_ttl

_ROOT = Path(tempfile.mkdtemp(prefix="helgenom-fuzz-"))
HOME = _ROOT / "instance"
TOKENS: dict[str, str] = {}
APP = create_app(str(HOME))
schema = schemathesis.openapi.from_dict(APP.openapi())  # the lifespan runs per test below
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def instance() -> Iterator[None]:
    """The instance the app opens (built before the first request)."""
    init_instance(HOME)
    p = open_platform(str(HOME))
    try:
        build_world(p)
        for user in ("gen-a", "citizen", "operator"):
            TOKENS[user] = p.tokens.issue(p.context(), user, parse_ttl("1h")).token
    finally:
        p.close()
    yield
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.mark.parametrize("user", [None, "gen-a", "citizen", "operator"])
@schema.parametrize()
@settings(max_examples=15, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_5xx(case: schemathesis.Case, user: str | None) -> None:
    if user is not None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKENS[user]}"}
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
