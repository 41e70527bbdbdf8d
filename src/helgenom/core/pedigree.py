"""Pedigrees: PED file parsing, validation and trios.

A PED file has six columns per individual, separated by tabs or spaces::

    # family  individual  father  mother  sex  phenotype
    FAM1      child       dad     mum     1    2
    FAM1      dad         0       0       1    1
    FAM1      mum         0       0       2    1

``0`` means an unknown parent. Sex is ``1`` (male), ``2`` (female) or ``0``
(unknown); phenotype is ``1`` (unaffected), ``2`` (affected) or ``0``/``-9``
(unknown). Lines starting with ``#`` and blank lines are ignored.

Individuals are identified by ``(family, individual)``: the same individual id may
occur in two families. A parent must belong to the child's family and be listed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from helgenom.core.errors import FormatError, InvalidInputError

FORMAT_VERSION = 1
"""Version of the :meth:`Pedigree.asdict` form."""


class Sex(enum.StrEnum):
    """Sex as recorded in a PED file (column 5)."""

    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class Phenotype(enum.StrEnum):
    """Affection status as recorded in a PED file (column 6)."""

    UNAFFECTED = "unaffected"
    AFFECTED = "affected"
    UNKNOWN = "unknown"


_SEX_CODES = {"1": Sex.MALE, "2": Sex.FEMALE, "0": Sex.UNKNOWN}
_PHENOTYPE_CODES = {
    "1": Phenotype.UNAFFECTED,
    "2": Phenotype.AFFECTED,
    "0": Phenotype.UNKNOWN,
    "-9": Phenotype.UNKNOWN,
}
_SEX_TO_CODE = {v: k for k, v in _SEX_CODES.items()}
_PHENOTYPE_TO_CODE = {
    Phenotype.UNAFFECTED: "1",
    Phenotype.AFFECTED: "2",
    Phenotype.UNKNOWN: "0",
}


@dataclass(frozen=True, slots=True)
class Individual:
    """One PED record."""

    family: str
    """Family id (column 1)."""
    individual: str
    """Individual id (column 2), unique within the family."""
    father: str | None
    """Father's individual id in the same family, or None when unknown (``0``)."""
    mother: str | None
    """Mother's individual id in the same family, or None when unknown (``0``)."""
    sex: Sex
    """Recorded sex."""
    phenotype: Phenotype
    """Affection status."""

    @property
    def key(self) -> tuple[str, str]:
        """``(family, individual)``: the identity of the individual in a pedigree."""
        return (self.family, self.individual)

    @property
    def affected(self) -> bool | None:
        """True when affected, False when unaffected, None when unknown."""
        if self.phenotype is Phenotype.UNKNOWN:
            return None
        return self.phenotype is Phenotype.AFFECTED

    def ped_line(self) -> str:
        """The record as one tab-separated PED line (without newline)."""
        return "\t".join(
            (
                self.family,
                self.individual,
                self.father or "0",
                self.mother or "0",
                _SEX_TO_CODE[self.sex],
                _PHENOTYPE_TO_CODE[self.phenotype],
            )
        )


@dataclass(frozen=True, slots=True)
class Trio:
    """A child with both parents listed in the pedigree."""

    child: Individual
    """The child (usually the proband)."""
    father: Individual
    """The child's father."""
    mother: Individual
    """The child's mother."""


def _where(lines: Mapping[tuple[str, str], int] | None, key: tuple[str, str]) -> str:
    """``line N`` when the record came from a file, else the individual's id."""
    if lines is not None and key in lines:
        return f"line {lines[key]}"
    return f"individual {key[1]!r} of family {key[0]!r}"


def _validate(
    individuals: tuple[Individual, ...], lines: Mapping[tuple[str, str], int] | None
) -> None:
    """Check ids, parents, parental sex and the absence of cycles.

    Raises
    ------
    FormatError
        On the first problem; the message names the line (or individual) and the fix.
    """
    by_key: dict[tuple[str, str], Individual] = {}
    for ind in individuals:
        for name, value in (("family", ind.family), ("individual", ind.individual)):
            if not value or value == "0" or any(c.isspace() for c in value):
                raise FormatError(
                    f"{_where(lines, ind.key)}: {name} id {value!r} is empty, '0' or holds "
                    "whitespace; give a non-empty id without spaces"
                )
        if ind.key in by_key:
            raise FormatError(
                f"{_where(lines, ind.key)}: individual {ind.individual!r} of family "
                f"{ind.family!r} is listed twice; keep one record per individual"
            )
        by_key[ind.key] = ind
    for ind in individuals:
        for role, parent_id, wrong_sex in (
            ("father", ind.father, Sex.FEMALE),
            ("mother", ind.mother, Sex.MALE),
        ):
            if parent_id is None:
                continue
            if parent_id == ind.individual:
                raise FormatError(
                    f"{_where(lines, ind.key)}: {ind.individual!r} is given as its own "
                    f"{role}; use 0 for an unknown {role}"
                )
            parent = by_key.get((ind.family, parent_id))
            if parent is None:
                raise FormatError(
                    f"{_where(lines, ind.key)}: {role} {parent_id!r} is not listed in family "
                    f"{ind.family!r}; add a record for {parent_id!r} or use 0 for unknown"
                )
            if parent.sex is wrong_sex:
                code = _SEX_TO_CODE[wrong_sex]
                raise FormatError(
                    f"{_where(lines, ind.key)}: {role} {parent_id!r} has sex {code} "
                    f"({wrong_sex.value}) at {_where(lines, parent.key)}; correct the sex "
                    f"column or the {role} column"
                )
    # Cycles: depth-first search over child -> parent edges.
    state: dict[tuple[str, str], int] = {}  # 1 = on the stack, 2 = done

    def visit(key: tuple[str, str], path: list[tuple[str, str]]) -> None:
        state[key] = 1
        ind = by_key[key]
        for parent_id in (ind.father, ind.mother):
            if parent_id is None:
                continue
            pkey = (ind.family, parent_id)
            if state.get(pkey) == 1:
                stack = [*path, key]
                cycle = [k[1] for k in stack[stack.index(pkey) :]] + [parent_id]
                raise FormatError(
                    f"{_where(lines, key)}: individual {key[1]!r} is its own ancestor "
                    f"({' -> '.join(cycle)}); correct the father/mother columns"
                )
            if pkey not in state:
                visit(pkey, [*path, key])
        state[key] = 2

    for key in by_key:
        if key not in state:
            visit(key, [])


@dataclass(frozen=True, slots=True)
class Pedigree:
    """A validated set of individuals from one or more families."""

    individuals: tuple[Individual, ...]
    """The records, in file order."""

    def __post_init__(self) -> None:
        """Validate the records.

        Raises
        ------
        FormatError
            On duplicate ids, unlisted parents, a father of sex 2, a mother of sex 1
            or a cycle.
        """
        _validate(self.individuals, None)

    @classmethod
    def from_text(cls, text: str) -> Pedigree:
        """Parse the text of a PED file.

        Parameters
        ----------
        text
            The file content; columns separated by tabs or spaces (with tabs, an
            empty parent field means unknown, as ``0`` does).

        Returns
        -------
        Pedigree
            The validated pedigree.

        Raises
        ------
        FormatError
            If a line does not have six columns, holds an unknown sex or phenotype
            code, or the records fail validation; the message names the line and fix.
        """
        individuals: list[Individual] = []
        lines: dict[tuple[str, str], int] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if "\t" in line:
                # tab-separated: an empty field is an unknown parent (some tools write that)
                fields = [f.strip() or "0" for f in raw.rstrip("\r\n").split("\t")]
                while len(fields) > 6 and fields[-1] == "0":
                    fields.pop()
            else:
                fields = line.split()
            if len(fields) != 6:
                raise FormatError(
                    f"line {number}: expected 6 columns (family, individual, father, mother, "
                    f"sex, phenotype), found {len(fields)}; remove genotype columns and "
                    "separate columns by tabs or spaces"
                )
            family, individual, father, mother, sex, phenotype = fields
            if sex not in _SEX_CODES:
                raise FormatError(
                    f"line {number}: sex {sex!r} is not 1 (male), 2 (female) or 0 (unknown)"
                )
            if phenotype not in _PHENOTYPE_CODES:
                raise FormatError(
                    f"line {number}: phenotype {phenotype!r} is not 1 (unaffected), "
                    "2 (affected), 0 or -9 (unknown)"
                )
            record = Individual(
                family=family,
                individual=individual,
                father=None if father == "0" else father,
                mother=None if mother == "0" else mother,
                sex=_SEX_CODES[sex],
                phenotype=_PHENOTYPE_CODES[phenotype],
            )
            if record.key in lines:
                raise FormatError(
                    f"line {number}: individual {individual!r} of family {family!r} is "
                    f"already listed at line {lines[record.key]}; keep one record per individual"
                )
            lines[record.key] = number
            individuals.append(record)
        records = tuple(individuals)
        _validate(records, lines)
        return cls(records)

    def to_text(self) -> str:
        """The pedigree as PED text with a header comment."""
        header = "#family\tindividual\tfather\tmother\tsex\tphenotype\n"
        return header + "".join(ind.ped_line() + "\n" for ind in self.individuals)

    def get(self, individual: str, family: str | None = None) -> Individual:
        """Return one individual.

        Raises
        ------
        InvalidInputError
            If no such individual is listed, or ``family`` is None and the id occurs in
            more than one family.
        """
        found = [
            ind
            for ind in self.individuals
            if ind.individual == individual and (family is None or ind.family == family)
        ]
        if not found:
            raise InvalidInputError(f"individual {individual!r} is not in the pedigree")
        if len(found) > 1:
            raise InvalidInputError(
                f"individual {individual!r} occurs in several families; pass family="
            )
        return found[0]

    def father_of(self, child: Individual) -> Individual | None:
        """The child's father record, or None when unknown."""
        return None if child.father is None else self.get(child.father, child.family)

    def mother_of(self, child: Individual) -> Individual | None:
        """The child's mother record, or None when unknown."""
        return None if child.mother is None else self.get(child.mother, child.family)

    def children_of(self, parent: Individual) -> tuple[Individual, ...]:
        """Individuals of the parent's family that name it as father or mother."""
        return tuple(
            ind
            for ind in self.individuals
            if ind.family == parent.family and parent.individual in (ind.father, ind.mother)
        )

    def trios(self) -> tuple[Trio, ...]:
        """Every child with both parents listed, in file order."""
        result: list[Trio] = []
        for ind in self.individuals:
            father, mother = self.father_of(ind), self.mother_of(ind)
            if father is not None and mother is not None:
                result.append(Trio(child=ind, father=father, mother=mother))
        return tuple(result)

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form with ``format_version``."""
        return {
            "format_version": FORMAT_VERSION,
            "individuals": [
                {
                    "family": ind.family,
                    "individual": ind.individual,
                    "father": ind.father,
                    "mother": ind.mother,
                    "sex": ind.sex.value,
                    "phenotype": ind.phenotype.value,
                }
                for ind in self.individuals
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pedigree:
        """Rebuild a pedigree from :meth:`asdict` output.

        Raises
        ------
        FormatError
            If the format version is not supported, a field is missing or has the
            wrong type, or the records fail validation.
        """
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise FormatError(
                f"pedigree format_version {version!r} is not supported; expected {FORMAT_VERSION}"
            )
        raw = data.get("individuals")
        if not isinstance(raw, list):
            raise FormatError("pedigree 'individuals' must be a list of records")
        individuals: list[Individual] = []
        for index, item in enumerate(raw):
            try:
                individuals.append(
                    Individual(
                        family=_text(item["family"]),
                        individual=_text(item["individual"]),
                        father=_optional_text(item["father"]),
                        mother=_optional_text(item["mother"]),
                        sex=Sex(item["sex"]),
                        phenotype=Phenotype(item["phenotype"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise FormatError(
                    f"pedigree individuals[{index}] is not a valid record ({exc}); give "
                    "family, individual, father, mother, sex and phenotype"
                ) from None
        return cls(tuple(individuals))


def _text(value: object) -> str:
    """``value`` if it is a string; TypeError otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_text(value: object) -> str | None:
    """``value`` if it is a string or None; TypeError otherwise."""
    return None if value is None else _text(value)


def individuals_by_key(individuals: Iterable[Individual]) -> dict[tuple[str, str], Individual]:
    """Index records by ``(family, individual)``."""
    return {ind.key: ind for ind in individuals}


__all__ = [
    "FORMAT_VERSION",
    "Individual",
    "Pedigree",
    "Phenotype",
    "Sex",
    "Trio",
    "individuals_by_key",
]
