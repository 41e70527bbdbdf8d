"""Beacon load test: latency and throughput of g_variants at N concurrent clients.

Builds a scratch instance (SQLite, local store) whose public allele-frequency set holds a
simulated population (msprime, :func:`~helgenom.adapters.variants.cohort.simulate_cohort`,
ingested as in ``helgenom demo``), starts the real API with uvicorn on a free loopback
port in a child process, and runs ``--clients`` client threads, each with its own
keep-alive connection, until ``--requests`` requests are answered or ``--seconds`` pass.

Every client is three askers, so no one's budget is shared between clients:

* ``anonymous``: no token; its own client address (``X-Forwarded-For`` from loopback,
  which uvicorn trusts there) so each client has its own anonymous budget;
* ``registered``: a clinician's token (count answers);
* ``controlled``: a researcher's token for an approved project (record answers).

Each request picks an asker, GET or POST, and a query at random (seeded): a sequence
query for a common, a rare (AC 1-4) or an absent allele, or a range query of 1-5 kb.
Rare alleles spend their carriers' person budgets (no error: spent carriers are left
out) and every query is charged to the asker's query budget, as in production (the
platform's default policy unless ``--queries-per-window`` sets another). A spent query
budget answers 429 and is counted apart from errors.

Run from the project root with the project's virtualenv::

    python benchmarks/beacon_load.py                       # 20 clients, 1,000 requests (~70 s)
    python benchmarks/beacon_load.py --clients 20 --requests 100000 --seconds 60
    python benchmarks/beacon_load.py --queries-per-window 20  # see the 429s
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, width=120)

AUDIENCES = ("anonymous", "registered", "controlled")
PROJECT = "LOAD-1"
BUILD = "SIM"


@dataclass(frozen=True)
class Population:
    """The scratch instance and what the clients ask about."""

    home: Path
    contig: str
    length: int
    common: tuple[str, ...]
    """Variant ids with AC >= 5 in the public set."""
    rare: tuple[str, ...]
    """Variant ids with AC 1-4."""
    tokens: dict[str, tuple[str, ...]]
    """Bearer tokens per audience (``registered``, ``controlled``), one per client."""


@dataclass
class LoadReport:
    """What the clients measured."""

    clients: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Seconds per answered request, per audience."""
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    """HTTP status counts per audience (0: no answer, connection failed)."""

    @property
    def requests(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def build_population(
    folder: Path, *, samples: int, length: int, clients: int, seed: int
) -> Population:
    """A scratch instance with ``samples`` simulated citizens in the public set."""
    from helgenom.adapters.variants.cohort import simulate_cohort
    from helgenom.core.models import Role, SampleOrigin, Sex
    from helgenom.services.demo import synthetic_cpr
    from helgenom.services.instance import init_instance
    from helgenom.services.platform import open_platform
    from helgenom.services.tokens import parse_ttl
    from helgenom.services.variants import BatchItem

    home = folder / "instance"
    init_instance(home)
    p = open_platform(str(home))
    try:
        admin = p.context()
        p.directory.add_org(admin, "DEP-LOAD", "Load-test department")
        p.directory.add_user(admin, "load.operator", Role.OPERATOR, "platform")
        p.directory.add_user(admin, "load.steward", Role.STEWARD, "platform")
        p.directory.add_user(admin, "load.clinician", Role.CLINICIAN, "DEP-LOAD")
        registered = [f"load.clin{i:02d}" for i in range(clients)]
        controlled = [f"load.res{i:02d}" for i in range(clients)]
        for name in registered:
            p.directory.add_user(admin, name, Role.CLINICIAN, "DEP-LOAD")
        for name in controlled:
            p.directory.add_user(admin, name, Role.RESEARCHER, "platform")
        steward = p.context("load.steward")
        p.research.apply(p.context(controlled[0]), PROJECT, "Beacon load test")
        p.research.decide(
            steward,
            PROJECT,
            approve=True,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
        for name in controlled[1:]:
            p.research.add_member(steward, PROJECT, name)

        cohort = simulate_cohort(
            folder / "population", samples=samples, length=length, seed=seed, gvcf=True
        )
        operator = p.context("load.operator")
        p.references.load(operator, cohort.reference_fasta, build=BUILD)
        rng = random.Random(seed)
        clinician = p.context("load.clinician")
        items: list[BatchItem] = []
        for name, sex, vcf in zip(cohort.samples, cohort.sexes, cohort.sample_vcfs, strict=True):
            cpr = synthetic_cpr(rng, Sex(sex))
            p.persons.register(clinician, cpr)
            sample = p.samples.register(steward, cpr, origin=SampleOrigin.VOLUNTARY)
            items.append(BatchItem(sample, path=vcf, vcf_sample=name))
        p.variants.ingest_batch(operator, items, workers=0, build=BUILD)
        rows = p.variants.frequency(
            clinician,
            region=f"{cohort.contig}:1-{cohort.length}",
            frequency_set="public",
            by=["overall"],
        ).rows
        common = tuple(str(r["variant_id"]) for r in rows if int(r["ac"]) >= 5)
        rare = tuple(str(r["variant_id"]) for r in rows if 1 <= int(r["ac"]) < 5)
        ttl = parse_ttl("12h")
        tokens = {
            "registered": tuple(p.tokens.issue(admin, n, ttl).token for n in registered),
            "controlled": tuple(p.tokens.issue(admin, n, ttl).token for n in controlled),
        }
    finally:
        p.close()
    return Population(home, cohort.contig, cohort.length, common, rare, tokens)


# -- the server --------------------------------------------------------------------------------


def make_app() -> Any:
    """The API of ``HELGENOM_HOME`` (each server process builds its own), with the query
    budget of ``HELGENOM_LOAD_QUERIES_PER_WINDOW`` when set."""
    from helgenom.api.app import create_app

    app = create_app()
    budget = os.environ.get("HELGENOM_LOAD_QUERIES_PER_WINDOW")
    if budget:
        from helgenom.core.beacon import DisclosurePolicy

        opened = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[None]:
            async with opened(a):
                a.state.platform.beacon.policy = DisclosurePolicy(queries_per_window=int(budget))
                yield

        app.router.lifespan_context = lifespan
    return app


def serve(home: str, port: int, queries_per_window: int | None, workers: int) -> None:
    """Run the API of ``home`` on loopback with ``workers`` processes (the child process)."""
    import uvicorn

    os.environ["HELGENOM_HOME"] = home
    if queries_per_window is not None:
        os.environ["HELGENOM_LOAD_QUERIES_PER_WINDOW"] = str(queries_per_window)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    uvicorn.run(
        "beacon_load:make_app",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    home: Path, port: int, queries_per_window: int | None, log: Path, workers: int = 2
) -> subprocess.Popen[bytes]:
    """The API in a child process, once ``/health`` answers (30 s at most)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(home), "--port", str(port)]
    cmd += ["--server-workers", str(workers)]
    if queries_per_window is not None:
        cmd += ["--queries-per-window", str(queries_per_window)]
    with log.open("wb") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the API did not start: see {log}\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


# -- the clients -------------------------------------------------------------------------------


def pick_query(rng: random.Random, pop: Population) -> dict[str, Any]:
    """Beacon request parameters: a common, rare or absent allele, or a range."""
    kind = rng.random()
    if kind < 0.25:
        start = rng.randrange(0, max(1, pop.length - 5_000))
        return {
            "referenceName": pop.contig,
            "start": start,
            "end": start + rng.randrange(1_000, 5_001),
            "requestedGranularity": "record",
        }
    if kind < 0.55 and pop.common:
        variant = rng.choice(pop.common)
    elif kind < 0.85 and pop.rare:
        variant = rng.choice(pop.rare)
    else:  # absent: a base change the population does not carry
        variant = f"{pop.contig}-{rng.randrange(1, pop.length)}-A-T"
    contig, pos, ref, alt = variant.rsplit("-", 3)
    return {
        "referenceName": contig,
        "start": int(pos) - 1,
        "referenceBases": ref,
        "alternateBases": alt,
        "requestedGranularity": "record",
    }


def request_of(
    rng: random.Random, query: dict[str, Any]
) -> tuple[str, str, bytes | None, dict[str, str]]:
    """Method, path, body and extra headers of a GET or POST g_variants request."""
    if rng.random() < 0.5:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return "GET", f"/beacon/g_variants?{params}", None, {}
    granularity = query.pop("requestedGranularity")
    for key in ("start", "end"):
        if key in query:
            query[key] = [query[key]]
    body = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {"requestParameters": query, "requestedGranularity": granularity},
    }
    return (
        "POST",
        "/beacon/g_variants",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )


def run_clients(
    pop: Population, port: int, *, clients: int, requests: int, seconds: float, seed: int
) -> LoadReport:
    """``clients`` threads until ``requests`` are answered or ``seconds`` pass."""
    report = LoadReport(clients, 0.0)
    for audience in AUDIENCES:
        report.latencies[audience] = []
        report.statuses[audience] = Counter()
    lock = threading.Lock()
    issued = 0
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def take() -> bool:
        nonlocal issued
        with lock:
            if issued >= requests or time.perf_counter() >= deadline[0]:
                return False
            issued += 1
            return True

    def client(index: int) -> None:
        rng = random.Random(seed * 1_000 + index)
        headers = {
            "anonymous": {"X-Forwarded-For": f"10.0.{index // 250}.{index % 250 + 1}"},
            "registered": {"Authorization": f"Bearer {pop.tokens['registered'][index]}"},
            "controlled": {
                "Authorization": f"Bearer {pop.tokens['controlled'][index]}",
                "X-Helgenom-Project": PROJECT,
            },
        }
        latencies: dict[str, list[float]] = {a: [] for a in AUDIENCES}
        statuses: dict[str, Counter[int]] = {a: Counter() for a in AUDIENCES}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start_gate.wait()
        while take():
            audience = rng.choice(AUDIENCES)
            method, path, body, extra = request_of(rng, pick_query(rng, pop))
            t = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers={**headers[audience], **extra})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            elapsed = time.perf_counter() - t
            statuses[audience][status] += 1
            if status:
                latencies[audience].append(elapsed)
        conn.close()
        with lock:
            for audience in AUDIENCES:
                report.latencies[audience].extend(latencies[audience])
                report.statuses[audience].update(statuses[audience])

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    report.seconds = time.perf_counter() - started
    return report


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def render(report: LoadReport) -> Table:
    """The Rich table: per audience and overall."""
    table = Table(
        "audience",
        "requests",
        "2xx",
        "429 (budget)",
        "errors by status",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        title=(
            f"Beacon g_variants on loopback: {report.clients} clients, {report.requests:,} "
            f"requests in {report.seconds:.1f} s"
        ),
    )
    rows = [(a, report.latencies[a], report.statuses[a]) for a in AUDIENCES]
    everything: Counter[int] = Counter()
    for counts in report.statuses.values():
        everything.update(counts)
    rows.append(("all", [x for a in AUDIENCES for x in report.latencies[a]], everything))
    for name, latencies, counts in rows:
        total = sum(counts.values())
        ok = sum(n for s, n in counts.items() if 200 <= s < 300)
        errors = {s: n for s, n in sorted(counts.items()) if not 200 <= s < 300 and s != 429}
        shown = ", ".join(f"{s or 'no answer'}: {n}" for s, n in errors.items()) or "-"
        table.add_row(
            name,
            f"{total:,}",
            f"{ok:,}",
            f"{counts.get(429, 0):,}",
            shown,
            f"{total / report.seconds:.1f}" if report.seconds else "-",
            *(f"{percentile(latencies, q) * 1e3:.1f}" for q in (0.5, 0.95, 0.99, 1.0)),
        )
    return table


def run(
    *,
    clients: int = 20,
    requests: int = 1_000,
    seconds: float = 90.0,
    samples: int = 100,
    length: int = 50_000,
    seed: int = 1,
    queries_per_window: int | None = None,
    folder: Path | None = None,
    server_workers: int = 2,
) -> LoadReport:
    """Build the population, start the API, run the clients, stop the API."""
    with tempfile.TemporaryDirectory(prefix="helgenom-beacon-load-", dir=folder) as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        pop = build_population(work, samples=samples, length=length, clients=clients, seed=seed)
        console.print(
            f"population: {samples} simulated citizens x {length:,} bp in "
            f"{time.perf_counter() - t:.1f} s; public set: {len(pop.common):,} common and "
            f"{len(pop.rare):,} rare (AC 1-4) alleles"
        )
        port = free_port()
        server = start_server(
            pop.home, port, queries_per_window, work / "server.log", server_workers
        )
        try:
            report = run_clients(
                pop, port, clients=clients, requests=requests, seconds=seconds, seed=seed
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log = (work / "server.log").read_text(errors="replace")
            if "Traceback" in log:
                console.print("[red]the server logged errors; the last of its log:[/]")
                console.print(log[-6000:], markup=False, highlight=False)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=1_000, help="requests in all (at most)")
    parser.add_argument("--seconds", type=float, default=90.0, help="time limit of the run")
    parser.add_argument("--samples", type=int, default=100, help="simulated citizens")
    parser.add_argument("--length", type=int, default=50_000, help="simulated bases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--queries-per-window",
        type=int,
        default=None,
        help="per-asker query budget per day (default: the platform's policy)",
    )
    parser.add_argument(
        "--server-workers", type=int, default=2, help="API server processes (one per core)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the scratch folder goes")
    parser.add_argument("--serve", metavar="HOME", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.queries_per_window, args.server_workers)
        return 0
    if args.clients < 1 or args.requests < 1 or args.seconds <= 0:
        parser.error("--clients and --requests must be at least 1 and --seconds positive")
    report = run(
        clients=args.clients,
        requests=args.requests,
        seconds=args.seconds,
        samples=args.samples,
        length=args.length,
        seed=args.seed,
        queries_per_window=args.queries_per_window,
        folder=args.dir,
        server_workers=args.server_workers,
    )
    console.print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
