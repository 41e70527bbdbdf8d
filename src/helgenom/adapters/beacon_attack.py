"""Membership attack on a beacon (Shringarpure & Bustamante 2015), to measure the defences.

A simulated population (:func:`simulate_genotypes`: msprime, 10,000 diploids until
200 generations ago, then exponential growth to 1,000,000 today, a recent expansion
that gives the excess of rare alleles seen in human samples; recombination 1e-8 and
mutation 1.25e-8 per base, biallelic sites) is split
(:func:`split_population`) into beacon members, outsiders and a reference panel. The
attacker holds a target's genome and the panel's allele frequencies; they ask the beacon
about the target's alternate alleles (rarest in the panel first, the optimal order of
Raisaro et al. 2017, or in random order as in the original attack) and compute the
likelihood-ratio statistic

``S = sum_j x_j ln(P1_j / P0_j) + (1 - x_j) ln((1 - P1_j) / (1 - P0_j))``

where ``x_j`` is 1 for a "yes", ``P0_j = 1 - (1 - f_j)^2N`` is the chance of "yes" if the
target is not in the beacon of ``N`` persons, ``P1_j = 1 - e (1 - f_j)^(2N - 2)`` if it is
(``e`` the error rate, 1e-6), and ``f_j`` the panel frequency (``(AC + 0.5) / (AN + 1)``).
Refused queries count for nothing. The target is called a member when ``S`` exceeds the
``1 - alpha`` quantile of the outsiders' statistics; :func:`attack_power` reports the
share of members so called (the power at false-positive rate ``alpha``).

The beacon answers through :func:`beacon_answers`, which applies the defences of
:mod:`helgenom.core.beacon` (:func:`~helgenom.core.beacon.disclose_allele` and a
:class:`~helgenom.core.beacon.BudgetLedger`) chosen by :class:`Defences`; each target is
attacked against a fresh ledger (the attacker is the first to ask).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import msprime
import numpy as np
import numpy.typing as npt

from helgenom.core.beacon import (
    AlleleObservation,
    Audience,
    BudgetLedger,
    DisclosurePolicy,
    disclose_allele,
)
from helgenom.core.errors import DisclosureRiskError, InvalidInputError

POPULATION_SIZE = 10_000
"""Diploid population size before the expansion."""
PRESENT_SIZE = 1_000_000
"""Diploid population size today."""
EXPANSION_GENERATIONS = 200
"""Generations since the exponential growth began."""
RECOMBINATION_RATE = 1e-8
"""Per base per generation."""
MUTATION_RATE = 1.25e-8
"""Per base per generation."""
ERROR_RATE = 1e-6
"""The attacker's assumed genotyping error rate ``e``."""

Genotypes = npt.NDArray[np.int8]
"""Persons x sites, 0/1/2 alternate alleles."""
Answer = Callable[[int], bool | None]
"""A beacon: site index -> present (True), absent (False) or refused (None)."""


def simulate_genotypes(individuals: int, *, sites: int, seed: int) -> Genotypes:
    """Diploid genotypes of ``individuals`` persons at ``sites`` biallelic sites.

    The sequence length starts from a guess of 6,000 sites per megabase and is doubled
    until it holds the sites; the first ``sites`` sites are kept.

    Raises
    ------
    InvalidInputError
        ``individuals`` or ``sites`` is below 1.
    """
    if individuals < 1 or sites < 1:
        raise InvalidInputError("simulate_genotypes needs individuals >= 1 and sites >= 1")
    demography = msprime.Demography()
    demography.add_population(
        name="pop",
        initial_size=PRESENT_SIZE,
        growth_rate=math.log(PRESENT_SIZE / POPULATION_SIZE) / EXPANSION_GENERATIONS,
    )
    demography.add_population_parameters_change(
        time=EXPANSION_GENERATIONS, initial_size=POPULATION_SIZE, growth_rate=0, population="pop"
    )
    length = math.ceil(sites / 6000 * 1_000_000)
    for attempt in range(8):
        ts = msprime.sim_ancestry(
            samples={"pop": individuals},
            demography=demography,
            recombination_rate=RECOMBINATION_RATE,
            sequence_length=length,
            random_seed=seed + attempt,
        )
        ts = msprime.sim_mutations(
            ts,
            rate=MUTATION_RATE,
            model=msprime.BinaryMutationModel(),
            discrete_genome=True,
            random_seed=seed + attempt,
        )
        if ts.num_sites >= sites:
            haplotypes = ts.genotype_matrix()[:sites].astype(np.int8)
            diploid = haplotypes[:, 0::2] + haplotypes[:, 1::2]
            return np.ascontiguousarray(diploid.T)
        length *= 2
    raise InvalidInputError(f"could not simulate {sites} sites; ask for fewer")


@dataclass(frozen=True)
class AttackSetup:
    """A population split for the attack."""

    members: Genotypes
    """The beacon's persons."""
    outsiders: Genotypes
    """Persons not in the beacon (targets for the null distribution)."""
    panel: Genotypes
    """The attacker's reference panel (neither members nor outsiders)."""

    @property
    def panel_frequency(self) -> npt.NDArray[np.float64]:
        """The attacker's allele frequency per site."""
        ac = self.panel.sum(axis=0, dtype=np.int64)
        frequency: npt.NDArray[np.float64] = (ac + 0.5) / (2 * self.panel.shape[0] + 1)
        return frequency


def split_population(
    genotypes: Genotypes, *, members: int, outsiders: int, panel: int, seed: int
) -> AttackSetup:
    """Randomly split persons into beacon members, outsiders and a reference panel.

    Raises
    ------
    InvalidInputError
        The parts need more persons than there are.
    """
    need = members + outsiders + panel
    if min(members, outsiders, panel) < 1 or need > genotypes.shape[0]:
        raise InvalidInputError(
            f"the split needs {need} persons (each part >= 1); the matrix has "
            f"{genotypes.shape[0]}: simulate more"
        )
    order = np.random.default_rng(seed).permutation(genotypes.shape[0])
    return AttackSetup(
        members=genotypes[order[:members]],
        outsiders=genotypes[order[members : members + outsiders]],
        panel=genotypes[order[members + outsiders : need]],
    )


@dataclass(frozen=True)
class Defences:
    """Which defences the simulated beacon applies (module doc of core.beacon)."""

    name: str = "none"
    suppression: bool = False
    """Rare alleles (AC < min_count) answered as absent (the anonymous audience)."""
    user_queries: int | None = None
    """Queries the attacker may make (one window); None: no user budget."""
    person_budget: float | None = None
    """Risk budget (nats) per person; None: no person budget."""
    min_count: int = 5

    def policy(self) -> DisclosurePolicy:
        """The core policy with these defences."""
        return DisclosurePolicy(
            min_count=self.min_count,
            conceal_rare_for=frozenset({Audience.ANONYMOUS}),
            person_budget=self.person_budget if self.person_budget is not None else math.inf,
            queries_per_window=self.user_queries if self.user_queries is not None else 1,
            window_seconds=86_400.0,
        )


def beacon_answers(members: Genotypes, defences: Defences) -> Callable[[], Answer]:
    """A factory of beacons over ``members`` (each call: a fresh ledger, one attack).

    Answers go through :func:`~helgenom.core.beacon.disclose_allele`; the audience is
    anonymous with ``suppression`` and registered otherwise.
    """
    by_site = np.ascontiguousarray(members.T)
    ac = by_site.sum(axis=1, dtype=np.int64)
    an = 2 * members.shape[0]
    policy = defences.policy()
    audience = Audience.ANONYMOUS if defences.suppression else Audience.REGISTERED
    carriers: dict[int, dict[str, int]] = {}

    def carriers_of(site: int) -> dict[str, int]:
        if site not in carriers:
            row = by_site[site]
            carriers[site] = {f"p{i}": int(row[i]) for i in np.flatnonzero(row)}
        return carriers[site]

    def factory() -> Answer:
        ledger = BudgetLedger(policy, clock=lambda: 0.0)

        def answer(site: int) -> bool | None:
            if defences.user_queries is not None:
                try:
                    ledger.charge_query("attacker")
                except DisclosureRiskError:
                    return None
            count = int(ac[site])
            rare = 1 <= count < policy.min_count
            observation = AlleleObservation(
                variant_id=f"chr1-{site + 1}-A-G",
                ac=count,
                an=an,
                carriers=carriers_of(site) if rare else {},
            )
            return disclose_allele(
                observation, audience=audience, user="attacker", policy=policy, ledger=ledger
            ).exists

        return answer

    return factory


def lrt_scores(
    answers: npt.NDArray[np.float64],
    frequency: npt.NDArray[np.float64],
    beacon_size: int,
    error: float = ERROR_RATE,
) -> float:
    """The statistic ``S`` of one target (module doc); ``answers`` 1, 0 or NaN (refused)."""
    d_n = np.exp(2 * beacon_size * np.log1p(-frequency))
    d_other = np.exp((2 * beacon_size - 2) * np.log1p(-frequency))
    p0 = np.clip(1.0 - d_n, 1e-300, 1.0)
    p1 = 1.0 - error * d_other
    yes = np.log(p1) - np.log(p0)
    no = np.log(error * np.clip(d_other, 1e-300, 1.0)) - np.log(np.clip(d_n, 1e-300, 1.0))
    asked = ~np.isnan(answers)
    return float(np.sum(np.where(answers[asked] > 0.5, yes[asked], no[asked])))


@dataclass(frozen=True)
class AttackResult:
    """Outcome of the attack on many targets under one set of defences."""

    defences: Defences
    power: float
    """Share of member targets called members."""
    false_positive_rate: float
    """Share of outsider targets called members (at most ``alpha``)."""
    threshold: float
    queries: float
    """Mean number of queries answered per target."""
    member_scores: npt.NDArray[np.float64] = field(repr=False)
    outsider_scores: npt.NDArray[np.float64] = field(repr=False)


def attack_power(
    setup: AttackSetup,
    defences: Defences,
    *,
    targets: int = 100,
    queries: int | None = None,
    order: str = "rarest",
    alpha: float = 0.05,
    seed: int = 0,
) -> AttackResult:
    """Detection power of the attack at false-positive rate ``alpha``.

    Parameters
    ----------
    setup
        Members, outsiders and panel.
    defences
        What the beacon applies.
    targets
        Member targets and outsider targets each (at most the persons available).
    queries
        Alleles asked per target (None: every alternate allele the target carries).
    order
        ``rarest`` (rarest in the panel first) or ``random``.
    alpha
        False-positive rate fixing the threshold.
    seed
        Seed of the target choice and the random order.

    Raises
    ------
    InvalidInputError
        Unknown order, or alpha outside (0, 1).
    """
    if order not in ("rarest", "random"):
        raise InvalidInputError(f"order {order!r} must be rarest or random")
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError("alpha must be between 0 and 1")
    rng = np.random.default_rng(seed)
    frequency = setup.panel_frequency
    beacon = beacon_answers(setup.members, defences)
    size = setup.members.shape[0]

    def scores(group: Genotypes) -> tuple[npt.NDArray[np.float64], list[int]]:
        chosen = rng.choice(group.shape[0], size=min(targets, group.shape[0]), replace=False)
        out = np.empty(len(chosen))
        answered: list[int] = []
        for t, person in enumerate(chosen):
            sites = np.flatnonzero(group[person])
            if order == "rarest":
                sites = sites[np.argsort(frequency[sites], kind="stable")]
            else:
                sites = rng.permutation(sites)
            if queries is not None:
                sites = sites[:queries]
            answer = beacon()
            replies = np.array(
                [np.nan if (r := answer(int(s))) is None else float(r) for s in sites]
            )
            out[t] = lrt_scores(replies, frequency[sites], size)
            answered.append(int(np.count_nonzero(~np.isnan(replies))))
        return out, answered

    member_scores, member_asked = scores(setup.members)
    outsider_scores, outsider_asked = scores(setup.outsiders)
    threshold = float(np.quantile(outsider_scores, 1.0 - alpha, method="higher"))
    return AttackResult(
        defences=defences,
        power=float(np.mean(member_scores > threshold)),
        false_positive_rate=float(np.mean(outsider_scores > threshold)),
        threshold=threshold,
        queries=float(np.mean(member_asked + outsider_asked)),
        member_scores=member_scores,
        outsider_scores=outsider_scores,
    )


__all__ = [
    "AttackResult",
    "AttackSetup",
    "Defences",
    "attack_power",
    "beacon_answers",
    "lrt_scores",
    "simulate_genotypes",
    "split_population",
]
