"""Beacon membership attack: detection power with and without each defence.

Simulates a population with msprime
(:func:`~helgenom.adapters.beacon_attack.simulate_genotypes`: 10,000 diploids growing to
1,000,000 over the last 200 generations), splits it into beacon members, outsiders and
the attacker's reference panel, and runs the Shringarpure-Bustamante likelihood-ratio
attack (:func:`~helgenom.adapters.beacon_attack.attack_power`) on ``--targets`` members
and as many outsiders, asking for every alternate allele of each target, rarest in the
panel first (the optimal attacker) and in random order (the original attack). The beacon
answers through the defences of :mod:`helgenom.core.beacon`:

* ``suppression``: rare alleles (AC < 5) answered as absent (the anonymous audience);
* ``user budget``: the attacker may ask ``--user-queries`` queries;
* ``person budget``: each member may be exposed to ``--person-budget`` nats of risk
  (registered audience: rare alleles shown, spent carriers left out);
* ``all``: the three together.

Power is the share of members called members at a 5 % false-positive rate (the
threshold is the 95th percentile of the outsiders' statistics, so the realised rate is
at most 5 %). Each target is attacked against a fresh ledger.

Run from the project root with the project's virtualenv::

    python benchmarks/beacon_attack.py                      # 1,000 members, 20,000 sites
    python benchmarks/beacon_attack.py --members 500 --sites 10000 --targets 100
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.table import Table

from helgenom.adapters.beacon_attack import (
    Defences,
    attack_power,
    simulate_genotypes,
    split_population,
)

console = Console(highlight=False, width=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="persons in the beacon")
    parser.add_argument("--outsiders", type=int, default=300, help="persons not in it")
    parser.add_argument("--panel", type=int, default=1000, help="attacker's reference panel")
    parser.add_argument("--sites", type=int, default=20_000, help="simulated sites")
    parser.add_argument("--targets", type=int, default=200, help="members and outsiders each")
    parser.add_argument("--user-queries", type=int, default=100, help="user budget")
    parser.add_argument("--person-budget", type=float, default=1.0, help="nats per person")
    parser.add_argument("--alpha", type=float, default=0.05, help="false-positive rate")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    individuals = args.members + args.outsiders + args.panel
    genotypes = simulate_genotypes(individuals, sites=args.sites, seed=args.seed)
    setup = split_population(
        genotypes,
        members=args.members,
        outsiders=args.outsiders,
        panel=args.panel,
        seed=args.seed + 1,
    )
    rare = int(((setup.members.sum(axis=0) >= 1) & (setup.members.sum(axis=0) < 5)).sum())
    console.print(
        f"population: {individuals:,} persons x {args.sites:,} sites in "
        f"{time.perf_counter() - started:.1f} s; beacon of {args.members:,} persons holds "
        f"{rare:,} rare alleles (AC 1-4)"
    )
    configurations = [
        Defences("none"),
        Defences("suppression", suppression=True),
        Defences(f"user budget ({args.user_queries} queries)", user_queries=args.user_queries),
        Defences(f"person budget ({args.person_budget:g} nats)", person_budget=args.person_budget),
        Defences(
            "all",
            suppression=True,
            user_queries=args.user_queries,
            person_budget=args.person_budget,
        ),
    ]
    table = Table(
        "defences",
        "power, rarest first",
        "power, random order",
        "FPR",
        "queries / target",
        "seconds",
        title=f"Beacon membership attack (power at {args.alpha:.0%} false-positive rate)",
    )
    for defences in configurations:
        t = time.perf_counter()
        rarest = attack_power(
            setup, defences, targets=args.targets, order="rarest", alpha=args.alpha, seed=7
        )
        shuffled = attack_power(
            setup, defences, targets=args.targets, order="random", alpha=args.alpha, seed=7
        )
        table.add_row(
            defences.name,
            f"{rarest.power:.2f}",
            f"{shuffled.power:.2f}",
            f"{max(rarest.false_positive_rate, shuffled.false_positive_rate):.2f}",
            f"{rarest.queries:,.0f} / {shuffled.queries:,.0f}",
            f"{time.perf_counter() - t:.1f}",
        )
    console.print(table)
    console.print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
