"""Tests of helgenom.core.consent: the consent history and the pure purpose decision.

Pure and fast. The expectations are written out here from the requirements, not
derived from the implementation:

* the current state is "the latest non-None value per choice wins" over the history;
* clinical care, quality assurance and the citizen's own insight are never blocked;
* a research opt-out blocks research and public aggregates of clinical and
  voluntary data;
* research-origin data follows its own project's consent: only that project may
  use it, for research, and it never feeds public aggregates;
* research always needs a project.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helgenom.core.consent import (
    ConsentEvent,
    ConsentState,
    Decision,
    ResearchChoice,
    decide_consent,
    derive_state,
)
from helgenom.core.models import CONSENT_PURPOSES, Purpose, SampleOrigin

FAST = settings(
    max_examples=100, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

ALWAYS_ALLOWED = (Purpose.CLINICAL_CARE, Purpose.QUALITY_ASSURANCE, Purpose.CITIZEN_INSIGHT)
BLOCKED_BY_OPT_OUT = (Purpose.RESEARCH, Purpose.PUBLIC_AGGREGATE)
NON_RESEARCH_ORIGINS = (SampleOrigin.CLINICAL, SampleOrigin.VOLUNTARY)

# --------------------------------------------------------------------------- strategies

sources = st.sampled_from(["citizen", "clinic", "register"])
actors = st.sampled_from(["citizen", "clin-a", "clin-b", "registry-import"])
project_codes = st.sampled_from(["PROJ-1", "PROJ-2", "GENE-HEART-01"])
maybe_projects = st.none() | project_codes


@st.composite
def consent_events(draw: st.DrawFn, at: dt.datetime | None = None) -> ConsentEvent:
    """One event; each choice is independently set or left unchanged (None)."""
    recorded_at = at or T0 + dt.timedelta(
        seconds=draw(st.integers(min_value=0, max_value=10 * 365 * 86400))
    )
    return ConsentEvent(
        recorded_at=recorded_at,
        source=draw(sources),
        actor=draw(actors),
        research=draw(st.none() | st.sampled_from(list(ResearchChoice))),
        secondary_findings=draw(st.none() | st.booleans()),
        recontact=draw(st.none() | st.booleans()),
    )


@st.composite
def histories(draw: st.DrawFn, max_size: int = 10) -> list[ConsentEvent]:
    """An ordered history (oldest first), as the catalog returns it; equal times allowed."""
    events = draw(st.lists(consent_events(), max_size=max_size))
    return sorted(events, key=lambda e: e.recorded_at)  # stable: ties keep insertion order


states = histories().map(derive_state)

any_state = st.builds(
    ConsentState,
    research=st.sampled_from(list(ResearchChoice)),
    secondary_findings=st.booleans(),
    recontact=st.booleans(),
    version=st.integers(min_value=0, max_value=1000),
    as_of=st.none() | st.just(T0),
)

# --------------------------------------------------------------------------- reference


def reference_state(events: list[ConsentEvent]) -> dict[str, object]:
    """An independent fold: for every choice, the last event that set it wins."""
    research = [e.research for e in events if e.research is not None]
    secondary = [e.secondary_findings for e in events if e.secondary_findings is not None]
    recontact = [e.recontact for e in events if e.recontact is not None]
    return {
        "research": research[-1] if research else ResearchChoice.ALLOW,
        "secondary_findings": secondary[-1] if secondary else False,
        "recontact": recontact[-1] if recontact else False,
        "version": len(events),
        "as_of": events[-1].recorded_at if events else None,
    }


def as_dict(state: ConsentState) -> dict[str, object]:
    return {
        "research": state.research,
        "secondary_findings": state.secondary_findings,
        "recontact": state.recontact,
        "version": state.version,
        "as_of": state.as_of,
    }


def event(
    minutes: int,
    *,
    research: ResearchChoice | None = None,
    secondary_findings: bool | None = None,
    recontact: bool | None = None,
    source: str = "citizen",
) -> ConsentEvent:
    return ConsentEvent(
        recorded_at=T0 + dt.timedelta(minutes=minutes),
        source=source,
        actor="citizen",
        research=research,
        secondary_findings=secondary_findings,
        recontact=recontact,
    )


# --------------------------------------------------------------------------- derive_state


@FAST
@given(histories())
def test_derive_state_equals_latest_value_per_choice(events: list[ConsentEvent]) -> None:
    assert as_dict(derive_state(events)) == reference_state(events)


@FAST
@given(histories())
def test_derive_state_accepts_any_iterable_once(events: list[ConsentEvent]) -> None:
    assert derive_state(iter(events)) == derive_state(events) == derive_state(tuple(events))


@FAST
@given(histories(), histories())
def test_history_is_a_fold_appending_continues_from_the_prefix(
    first: list[ConsentEvent], second: list[ConsentEvent]
) -> None:
    """Appending events never rewrites earlier choices that the new events leave unset."""
    later = [
        ConsentEvent(
            e.recorded_at + dt.timedelta(days=4000),
            e.source,
            e.actor,
            e.research,
            e.secondary_findings,
            e.recontact,
        )
        for e in second
    ]
    whole = derive_state(first + later)
    prefix = derive_state(first)
    assert whole.version == prefix.version + len(later)
    if all(e.research is None for e in later):
        assert whole.research == prefix.research
    if all(e.secondary_findings is None for e in later):
        assert whole.secondary_findings == prefix.secondary_findings
    if all(e.recontact is None for e in later):
        assert whole.recontact == prefix.recontact


@FAST
@given(histories(), consent_events(at=T0 + dt.timedelta(days=5000)))
def test_appending_allow_after_opt_out_re_allows_research(
    events: list[ConsentEvent], extra: ConsentEvent
) -> None:
    opted_out = [*events, event(10**7, research=ResearchChoice.OPT_OUT)]
    state = derive_state(opted_out)
    assert state.research_opt_out
    assert not decide_consent(state, Purpose.RESEARCH, project="PROJ-1").allowed

    allow = ConsentEvent(
        extra.recorded_at, extra.source, extra.actor, ResearchChoice.ALLOW, None, extra.recontact
    )
    state = derive_state([*opted_out, allow])
    assert not state.research_opt_out
    assert decide_consent(state, Purpose.RESEARCH, project="PROJ-1").allowed
    assert decide_consent(state, Purpose.PUBLIC_AGGREGATE).allowed


# --------------------------------------------------------------------------- decide_consent


@FAST
@given(
    states | any_state,
    st.sampled_from(ALWAYS_ALLOWED),
    st.sampled_from(list(SampleOrigin)),
    maybe_projects,
    maybe_projects,
)
def test_clinical_qa_and_citizen_insight_are_always_allowed(
    state: ConsentState,
    purpose: Purpose,
    origin: SampleOrigin,
    origin_project: str | None,
    project: str | None,
) -> None:
    decision = decide_consent(
        state, purpose, origin=origin, origin_project=origin_project, project=project
    )
    assert decision.allowed, decision.reason


@FAST
@given(
    states | any_state,
    st.sampled_from(BLOCKED_BY_OPT_OUT),
    st.sampled_from(NON_RESEARCH_ORIGINS),
    maybe_projects,
)
def test_opt_out_blocks_research_and_public_aggregate(
    state: ConsentState, purpose: Purpose, origin: SampleOrigin, project: str | None
) -> None:
    opted_out = ConsentState(
        ResearchChoice.OPT_OUT,
        state.secondary_findings,
        state.recontact,
        state.version,
        state.as_of,
    )
    decision = decide_consent(opted_out, purpose, origin=origin, project=project)
    assert not decision.allowed


@FAST
@given(histories(), st.sampled_from(NON_RESEARCH_ORIGINS), maybe_projects)
def test_research_and_aggregate_follow_the_opt_out_for_clinical_and_voluntary_data(
    events: list[ConsentEvent], origin: SampleOrigin, project: str | None
) -> None:
    state = derive_state(events)
    opted_out = reference_state(events)["research"] is ResearchChoice.OPT_OUT
    research = decide_consent(state, Purpose.RESEARCH, origin=origin, project=project)
    aggregate = decide_consent(state, Purpose.PUBLIC_AGGREGATE, origin=origin)
    assert research.allowed == (not opted_out and project is not None)
    assert aggregate.allowed == (not opted_out)


@FAST
@given(states | any_state, project_codes, maybe_projects)
def test_research_origin_data_only_for_its_own_project(
    state: ConsentState, origin_project: str, project: str | None
) -> None:
    decision = decide_consent(
        state,
        Purpose.RESEARCH,
        origin=SampleOrigin.RESEARCH,
        origin_project=origin_project,
        project=project,
    )
    assert decision.allowed == (project == origin_project)


@FAST
@given(states | any_state, maybe_projects, maybe_projects)
def test_research_origin_data_never_feeds_public_aggregates(
    state: ConsentState, origin_project: str | None, project: str | None
) -> None:
    decision = decide_consent(
        state,
        Purpose.PUBLIC_AGGREGATE,
        origin=SampleOrigin.RESEARCH,
        origin_project=origin_project,
        project=project,
    )
    assert not decision.allowed


@FAST
@given(states | any_state, st.sampled_from(list(SampleOrigin)), maybe_projects)
def test_research_without_a_project_is_denied(
    state: ConsentState, origin: SampleOrigin, origin_project: str | None
) -> None:
    decision = decide_consent(
        state, Purpose.RESEARCH, origin=origin, origin_project=origin_project, project=None
    )
    assert not decision.allowed


@FAST
@given(
    states | any_state,
    st.sampled_from(list(Purpose)),
    st.sampled_from(list(SampleOrigin)),
    maybe_projects,
    maybe_projects,
)
def test_every_decision_has_a_reason(
    state: ConsentState,
    purpose: Purpose,
    origin: SampleOrigin,
    origin_project: str | None,
    project: str | None,
) -> None:
    decision = decide_consent(
        state, purpose, origin=origin, origin_project=origin_project, project=project
    )
    assert isinstance(decision, Decision)
    assert isinstance(decision.allowed, bool)
    assert decision.reason.strip()


@FAST
@given(histories(), st.sampled_from(CONSENT_PURPOSES), st.sampled_from(list(SampleOrigin)))
def test_secondary_findings_and_recontact_never_change_a_purpose_decision(
    events: list[ConsentEvent], purpose: Purpose, origin: SampleOrigin
) -> None:
    """Only the research choice (and the origin) gates purposes; the other choices do not."""
    state = derive_state(events)
    flipped = ConsentState(
        state.research,
        not state.secondary_findings,
        not state.recontact,
        state.version,
        state.as_of,
    )
    for project in (None, "PROJ-1", "PROJ-2"):
        before = decide_consent(
            state, purpose, origin=origin, origin_project="PROJ-1", project=project
        )
        after = decide_consent(
            flipped, purpose, origin=origin, origin_project="PROJ-1", project=project
        )
        assert before.allowed == after.allowed


# --------------------------------------------------------------------------- named examples


def test_empty_history_is_the_danish_default() -> None:
    state = derive_state([])
    assert state == ConsentState()
    assert state.research is ResearchChoice.ALLOW
    assert not state.research_opt_out
    assert state.secondary_findings is False
    assert state.recontact is False
    assert state.version == 0
    assert state.as_of is None


def test_opt_out_then_secondary_findings_keeps_the_opt_out() -> None:
    events = [
        event(0, research=ResearchChoice.OPT_OUT, source="register"),
        event(5, secondary_findings=True, source="clinic"),
    ]
    state = derive_state(events)
    assert state.research_opt_out
    assert state.secondary_findings is True
    assert state.recontact is False
    assert state.version == 2
    assert state.as_of == T0 + dt.timedelta(minutes=5)


def test_opt_out_then_allow_then_recontact() -> None:
    events = [
        event(0, research=ResearchChoice.OPT_OUT),
        event(1, research=ResearchChoice.ALLOW),
        event(2, recontact=True),
        event(3, recontact=False, secondary_findings=True),
    ]
    state = derive_state(events)
    assert state.research is ResearchChoice.ALLOW
    assert state.recontact is False
    assert state.secondary_findings is True
    assert state.version == 4


@pytest.mark.parametrize(
    ("purpose", "origin", "origin_project", "project", "allowed"),
    [
        (Purpose.CLINICAL_CARE, SampleOrigin.CLINICAL, None, None, True),
        (Purpose.QUALITY_ASSURANCE, SampleOrigin.VOLUNTARY, None, None, True),
        (Purpose.CITIZEN_INSIGHT, SampleOrigin.RESEARCH, "PROJ-1", None, True),
        (Purpose.RESEARCH, SampleOrigin.CLINICAL, None, "PROJ-1", False),
        (Purpose.RESEARCH, SampleOrigin.VOLUNTARY, None, "PROJ-1", False),
        (Purpose.PUBLIC_AGGREGATE, SampleOrigin.CLINICAL, None, None, False),
        # research-origin data is governed by its project's consent, not the opt-out
        (Purpose.RESEARCH, SampleOrigin.RESEARCH, "PROJ-1", "PROJ-1", True),
        (Purpose.RESEARCH, SampleOrigin.RESEARCH, "PROJ-1", "PROJ-2", False),
        (Purpose.PUBLIC_AGGREGATE, SampleOrigin.RESEARCH, "PROJ-1", None, False),
    ],
    ids=lambda v: str(v.value) if hasattr(v, "value") else str(v),
)
def test_opted_out_person_examples(
    purpose: Purpose,
    origin: SampleOrigin,
    origin_project: str | None,
    project: str | None,
    allowed: bool,
) -> None:
    state = derive_state([event(0, research=ResearchChoice.OPT_OUT)])
    decision = decide_consent(
        state, purpose, origin=origin, origin_project=origin_project, project=project
    )
    assert decision.allowed is allowed
    assert decision.reason


@pytest.mark.parametrize(
    ("purpose", "origin", "origin_project", "project", "allowed"),
    [
        (Purpose.RESEARCH, SampleOrigin.CLINICAL, None, "PROJ-1", True),
        (Purpose.RESEARCH, SampleOrigin.VOLUNTARY, None, "PROJ-2", True),
        (Purpose.RESEARCH, SampleOrigin.CLINICAL, None, None, False),
        (Purpose.PUBLIC_AGGREGATE, SampleOrigin.VOLUNTARY, None, None, True),
        (Purpose.RESEARCH, SampleOrigin.RESEARCH, "PROJ-1", "PROJ-2", False),
        (Purpose.RESEARCH, SampleOrigin.RESEARCH, "PROJ-1", None, False),
        (Purpose.RESEARCH, SampleOrigin.RESEARCH, None, None, False),
    ],
    ids=lambda v: str(v.value) if hasattr(v, "value") else str(v),
)
def test_default_consent_examples(
    purpose: Purpose,
    origin: SampleOrigin,
    origin_project: str | None,
    project: str | None,
    allowed: bool,
) -> None:
    decision = decide_consent(
        ConsentState(), purpose, origin=origin, origin_project=origin_project, project=project
    )
    assert decision.allowed is allowed
    assert decision.reason


def test_opt_out_reason_names_the_consent_version() -> None:
    state = derive_state(
        [event(0, secondary_findings=True), event(1, research=ResearchChoice.OPT_OUT)]
    )
    decision = decide_consent(state, Purpose.RESEARCH, project="PROJ-1")
    assert not decision.allowed
    assert "v2" in decision.reason
