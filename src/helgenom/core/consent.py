"""Consent: an append-only history of decisions and the pure purpose decision.

The current state of a person's consent is derived from the history of events; the
latest value given for each choice wins. :func:`decide_consent` answers whether a
purpose may use a person's data, given the state and the origin of the sample.

Defaults follow the Danish model: research use is allowed unless the citizen opts
out (an opt-out register); secondary findings and recontact must be asked for.
Clinical care, quality assurance and the citizen's own insight are never blocked by
a research opt-out.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from helgenom.core.models import Purpose, SampleOrigin


class ResearchChoice(enum.StrEnum):
    """The citizen's choice about research use of their genetic data."""

    ALLOW = "allow"
    OPT_OUT = "opt-out"


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One recorded decision. ``None`` means the event leaves that choice unchanged."""

    recorded_at: dt.datetime
    """When the decision was recorded (UTC)."""
    source: str
    """Where it came from: ``citizen``, ``clinic``, ``register``."""
    actor: str
    """Name of the principal who recorded it."""
    research: ResearchChoice | None = None
    """Research use choice, if this event sets it."""
    secondary_findings: bool | None = None
    """Whether to be told about secondary (incidental) findings, if set."""
    recontact: bool | None = None
    """Whether to be contacted again when new knowledge changes a result, if set."""


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The current consent of one person, derived from the history."""

    research: ResearchChoice = ResearchChoice.ALLOW
    """Research use (default allowed: the national opt-out model)."""
    secondary_findings: bool = False
    """Told about secondary findings (default no)."""
    recontact: bool = False
    """Recontact on reclassification (default no)."""
    version: int = 0
    """Number of events the state was derived from; recorded with every use."""
    as_of: dt.datetime | None = None
    """Time of the latest event, or None when nothing was ever recorded."""

    @property
    def research_opt_out(self) -> bool:
        """Whether the person has opted out of research use."""
        return self.research is ResearchChoice.OPT_OUT


def derive_state(events: Iterable[ConsentEvent]) -> ConsentState:
    """Fold an ordered history (oldest first) into the current state."""
    state = ConsentState()
    research, secondary, recontact = state.research, state.secondary_findings, state.recontact
    count = 0
    as_of: dt.datetime | None = None
    for event in events:
        count += 1
        as_of = event.recorded_at
        if event.research is not None:
            research = event.research
        if event.secondary_findings is not None:
            secondary = event.secondary_findings
        if event.recontact is not None:
            recontact = event.recontact
    return ConsentState(research, secondary, recontact, count, as_of)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of a policy: allowed or not, and why (for the audit log)."""

    allowed: bool
    """Whether the request may proceed."""
    reason: str
    """A short, non-personal explanation; recorded in the audit log."""


def decide_consent(
    state: ConsentState,
    purpose: Purpose,
    *,
    origin: SampleOrigin = SampleOrigin.CLINICAL,
    origin_project: str | None = None,
    project: str | None = None,
) -> Decision:
    """Decide whether ``purpose`` may use data of a person in ``state``.

    Parameters
    ----------
    state
        The person's current consent state.
    purpose
        The purpose of the use.
    origin
        Why the data was collected. Research-origin data is governed by its own
        project's consent: only that project may use it for research.
    origin_project
        The project that collected research-origin data.
    project
        The project asking, for the research purpose.
    """
    if purpose in (Purpose.CLINICAL_CARE, Purpose.QUALITY_ASSURANCE):
        return Decision(True, f"{purpose.value} is not affected by consent choices")
    if purpose is Purpose.CITIZEN_INSIGHT:
        return Decision(True, "a citizen may always see their own data")
    if purpose in (Purpose.ADMINISTRATION, Purpose.AUDIT):
        return Decision(True, f"{purpose.value} does not use genomic data")
    if origin is SampleOrigin.RESEARCH:
        if purpose is Purpose.RESEARCH and project is not None and project == origin_project:
            return Decision(True, "research-origin data used by its own project")
        return Decision(False, "research-origin data is governed by its own project's consent")
    if state.research_opt_out:
        return Decision(False, f"person opted out of research use (consent v{state.version})")
    if purpose is Purpose.RESEARCH and project is None:
        return Decision(False, "research use needs an approved project")
    return Decision(True, f"no research opt-out (consent v{state.version})")
