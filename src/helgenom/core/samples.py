"""Sample tracking: the states of a sample, the allowed transitions and who may make them.

::

    ordered -> received -> sequenced -> analysing -> qc_passed -> interpreted -> reported
                                    analysing -> qc_failed -> analysing (re-analysis)
    any state before reported -> cancelled (with a reason)

``reported`` and ``cancelled`` are final. A sample that failed QC is either analysed
again (``qc_failed -> analysing``, e.g. after a pipeline fix) or cancelled; it is never
interpreted. :data:`ALLOWED_TRANSITIONS` is the whole table and
:func:`check_transition` the one check; :data:`TRANSITION_ROLES` says which role may
move a sample *into* each state (the service adds the department rule for the care
team: a geneticist or clinician acts on samples ordered by their own department).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from helgenom.core.errors import ConflictError, InvalidInputError
from helgenom.core.models import Role


class SampleState(enum.StrEnum):
    """Where a sample is in its life; the order of the members is the main path."""

    ORDERED = "ordered"
    RECEIVED = "received"
    SEQUENCED = "sequenced"
    ANALYSING = "analysing"
    QC_PASSED = "qc_passed"
    QC_FAILED = "qc_failed"
    INTERPRETED = "interpreted"
    REPORTED = "reported"
    CANCELLED = "cancelled"


S = SampleState

ALLOWED_TRANSITIONS: Mapping[SampleState, frozenset[SampleState]] = {
    S.ORDERED: frozenset({S.RECEIVED, S.CANCELLED}),
    S.RECEIVED: frozenset({S.SEQUENCED, S.CANCELLED}),
    S.SEQUENCED: frozenset({S.ANALYSING, S.CANCELLED}),
    S.ANALYSING: frozenset({S.QC_PASSED, S.QC_FAILED, S.CANCELLED}),
    S.QC_PASSED: frozenset({S.INTERPRETED, S.CANCELLED}),
    S.QC_FAILED: frozenset({S.ANALYSING, S.CANCELLED}),
    S.INTERPRETED: frozenset({S.REPORTED, S.CANCELLED}),
    S.REPORTED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""State -> the states a sample may move to next. Absent means not allowed."""

FINAL_STATES: frozenset[SampleState] = frozenset(
    s for s, targets in ALLOWED_TRANSITIONS.items() if not targets
)
"""States a sample never leaves: reported and cancelled."""

TRANSITION_ROLES: Mapping[SampleState, frozenset[Role]] = {
    S.RECEIVED: frozenset({Role.OPERATOR}),
    S.SEQUENCED: frozenset({Role.OPERATOR}),
    S.ANALYSING: frozenset({Role.OPERATOR}),
    S.QC_PASSED: frozenset({Role.OPERATOR}),
    S.QC_FAILED: frozenset({Role.OPERATOR}),
    S.INTERPRETED: frozenset({Role.GENETICIST}),
    S.REPORTED: frozenset({Role.GENETICIST}),
    S.CANCELLED: frozenset({Role.CLINICIAN, Role.STEWARD}),
}
"""Target state -> the roles that may move a sample into it. Nobody moves one to ordered."""

DEPARTMENT_ROLES: frozenset[Role] = frozenset({Role.CLINICIAN, Role.GENETICIST})
"""Roles that may act only on samples whose requisition is from their own department."""

REASON_REQUIRED: frozenset[SampleState] = frozenset({S.CANCELLED, S.QC_FAILED})
"""Target states that need a reason (recorded in the sample's history)."""

MAX_REASON_LENGTH = 500
"""Longest reason accepted, in characters."""


def parse_state(text: str) -> SampleState:
    """Parse a state name with a helpful error."""
    try:
        return SampleState(text)
    except ValueError:
        names = ", ".join(s.value for s in SampleState)
        raise InvalidInputError(f"unknown sample state {text!r}: choose one of {names}") from None


def allowed_next(state: SampleState) -> tuple[SampleState, ...]:
    """The states ``state`` may move to, in the order of the main path."""
    return tuple(s for s in SampleState if s in ALLOWED_TRANSITIONS[state])


def check_transition(current: SampleState, target: SampleState) -> None:
    """Raise :class:`ConflictError` unless a sample may move from ``current`` to ``target``.

    Raises
    ------
    ConflictError
        The move is not in :data:`ALLOWED_TRANSITIONS`; the message names the states
        the sample may move to instead.
    """
    if target in ALLOWED_TRANSITIONS[current]:
        return
    if current in FINAL_STATES:
        raise ConflictError(
            f"the sample is {current.value}, a final state: it cannot become {target.value}"
        )
    names = ", ".join(s.value for s in allowed_next(current))
    raise ConflictError(
        f"a sample cannot move from {current.value} to {target.value}; from {current.value} "
        f"it may move to: {names}"
    )


def roles_for(target: SampleState) -> frozenset[Role]:
    """The roles that may move a sample into ``target`` (empty for ``ordered``)."""
    return TRANSITION_ROLES.get(target, frozenset())


def check_reason(target: SampleState, reason: str | None) -> str | None:
    """Validate the reason given for a move to ``target``; returns it stripped (or None)."""
    text = reason.strip() if reason is not None else ""
    if target in REASON_REQUIRED and not text:
        raise InvalidInputError(
            f"moving a sample to {target.value} needs a reason: give --reason TEXT"
        )
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInputError(
            f"the reason has {len(text)} characters; give at most {MAX_REASON_LENGTH}"
        )
    if any(ord(c) < 32 for c in text):
        raise InvalidInputError("the reason must be one line of text without control characters")
    return text or None


__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEPARTMENT_ROLES",
    "FINAL_STATES",
    "MAX_REASON_LENGTH",
    "REASON_REQUIRED",
    "TRANSITION_ROLES",
    "SampleState",
    "allowed_next",
    "check_reason",
    "check_transition",
    "parse_state",
    "roles_for",
]
