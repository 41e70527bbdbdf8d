"""Smoke run of ``benchmarks/beacon_load.py``: a tiny population, two clients, the real API on
loopback, and a query budget small enough that the 429s show up in their own column."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from rich.console import Console

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "beacon_load.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("beacon_load", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("beacon_load", module)
    spec.loader.exec_module(module)
    return module


def test_beacon_load_smoke(tmp_path: Path) -> None:
    bench = load_benchmark()
    report = bench.run(
        clients=2,
        requests=30,
        seconds=60,
        samples=12,
        length=10_000,
        queries_per_window=2,
        folder=tmp_path,
    )
    assert report.requests == 30
    counts: Counter[int] = Counter()
    for by_status in report.statuses.values():
        counts.update(by_status)
    # 2 clients x 3 askers x 2 queries at most are answered; the rest is refused as 429
    assert set(counts) <= {200, 429}, counts
    assert 1 <= counts[200] <= 12
    assert counts[429] == 30 - counts[200]
    assert all(0 < x < 30 for xs in report.latencies.values() for x in xs)
    console = Console(record=True, width=140)
    console.print(bench.render(report))
    text = console.export_text()
    assert "429 (budget)" in text
    assert "p99 ms" in text
    assert not list(tmp_path.iterdir())  # the scratch instance is removed
