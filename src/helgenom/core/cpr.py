"""Parsing of Danish CPR numbers (personnummer).

A CPR number has ten digits, ``DDMMYYSSSS``, usually written ``DDMMYY-SSSS``:
the birth date (day, month, two-digit year) followed by a four-digit serial
number. The first digit of the serial (the seventh digit overall) together with
the two-digit year gives the century:

=============  ===============  ===============
seventh digit  YY 00-36         YY 37-99
=============  ===============  ===============
0-3            1900 + YY        1900 + YY
4, 9           2000 + YY        1900 + YY
=============  ===============  ===============

=============  ===============  ===============
seventh digit  YY 00-57         YY 58-99
=============  ===============  ===============
5-8            2000 + YY        1800 + YY
=============  ===============  ===============

The last digit gives the legal sex: odd is male, even is female.

The old modulus-11 check (weights 4, 3, 2, 7, 6, 5, 4, 3, 2, 1) is no longer
guaranteed for numbers issued since 2007, so it is reported on
:attr:`Cpr.modulus11_valid` but never used to reject a number.

A CPR number is personal data. Neither :class:`Cpr`'s ``repr``/``str`` nor any
error message raised here ever contains the number or any of its digits; use
:meth:`Cpr.formatted` to get the number back explicitly.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from helgenom.core.errors import InvalidCprError
from helgenom.core.models import Sex

_ASCII_DIGITS = frozenset("0123456789")
_MODULUS11_WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
_MAX_REPORTED_LENGTH = 99
"""Longer inputs are reported as "more than 99" so a length never echoes digits."""

_FORMAT_HINT = "as DDMMYY-SSSS or DDMMYYSSSS"
_CENTURY_HINT = "check the first six digits (DDMMYY) and the seventh digit, which sets the century"


def _is_ascii_digits(text: str) -> bool:
    """Return whether ``text`` is non-empty and made only of the ASCII digits 0-9."""
    return bool(text) and all(char in _ASCII_DIGITS for char in text)


def _modulus11_holds(digits: str) -> bool:
    """Return whether the ten ASCII ``digits`` pass the old modulus-11 check."""
    total = sum(int(d) * w for d, w in zip(digits, _MODULUS11_WEIGHTS, strict=True))
    return total % 11 == 0


@dataclass(frozen=True, slots=True)
class Cpr:
    """A parsed, valid Danish CPR number.

    Build one with :func:`parse_cpr`. The ``repr`` and ``str`` of a ``Cpr`` are
    always ``Cpr(<redacted>)`` so the number cannot leak through f-strings,
    logging or tracebacks; call :meth:`formatted` to get it explicitly.

    Attributes
    ----------
    digits : str
        Exactly ten ASCII digits, ``DDMMYYSSSS``.
    birth_date : datetime.date
        The birth date, with the century decided by the seventh digit.
    sex : Sex
        :attr:`Sex.MALE` if the last digit is odd, :attr:`Sex.FEMALE` if even.
    modulus11_valid : bool
        Whether the old modulus-11 check holds. Reported only; numbers failing
        it are still valid.
    """

    digits: str = field(repr=False)
    birth_date: datetime.date
    sex: Sex
    modulus11_valid: bool

    def __post_init__(self) -> None:
        """Check that ``digits`` is exactly ten ASCII digits.

        Raises
        ------
        InvalidCprError
            If ``digits`` is not a string of exactly ten ASCII digits.
        """
        if not isinstance(self.digits, str) or len(self.digits) != 10:
            raise InvalidCprError("Cpr.digits must be exactly 10 ASCII digits (DDMMYYSSSS)")
        if not _is_ascii_digits(self.digits):
            raise InvalidCprError("Cpr.digits must be exactly 10 ASCII digits (DDMMYYSSSS)")

    def formatted(self) -> str:
        """Return the number as ``DDMMYY-SSSS``.

        Returns
        -------
        str
            The ten digits with a hyphen after the sixth. This reveals the
            number; call it only where the number is meant to be shown.
        """
        return f"{self.digits[:6]}-{self.digits[6:]}"

    def __repr__(self) -> str:
        """Return ``Cpr(<redacted>)``; never the number or the birth date."""
        return "Cpr(<redacted>)"

    def __str__(self) -> str:
        """Return ``Cpr(<redacted>)``, the same as :meth:`__repr__`."""
        return "Cpr(<redacted>)"


def century_for(year2: int, seventh_digit: int) -> int:
    """Return the full birth year from the two-digit year and the seventh digit.

    Parameters
    ----------
    year2 : int
        The two-digit year ``YY``, 0 to 99.
    seventh_digit : int
        The first digit of the serial number, 0 to 9.

    Returns
    -------
    int
        The full year, e.g. ``1987``: for seventh digit 0-3, ``1900 + YY``;
        for 4 and 9, ``2000 + YY`` when ``YY`` is 0-36, else ``1900 + YY``;
        for 5-8, ``2000 + YY`` when ``YY`` is 0-57, else ``1800 + YY``.

    Raises
    ------
    InvalidCprError
        If ``year2`` is not 0 to 99 or ``seventh_digit`` is not 0 to 9.
    """
    if isinstance(year2, bool) or not isinstance(year2, int) or not 0 <= year2 <= 99:
        raise InvalidCprError("two-digit year must be an integer from 0 to 99")
    if (
        isinstance(seventh_digit, bool)
        or not isinstance(seventh_digit, int)
        or not 0 <= seventh_digit <= 9
    ):
        raise InvalidCprError("seventh digit of a CPR number must be an integer from 0 to 9")
    if seventh_digit <= 3:
        return 1900 + year2
    if seventh_digit in (4, 9):
        return 2000 + year2 if year2 <= 36 else 1900 + year2
    return 2000 + year2 if year2 <= 57 else 1800 + year2


def _normalise(text: object) -> str:
    """Return the ten ASCII digits of ``text``, or raise :class:`InvalidCprError`.

    Accepts ``DDMMYY-SSSS`` or ``DDMMYYSSSS`` with surrounding whitespace.
    """
    if not isinstance(text, str):
        raise InvalidCprError(f"CPR number must be given as text, {_FORMAT_HINT}")
    stripped = text.strip()
    length = len(stripped)
    if length == 11:
        if stripped[6] != "-":
            raise InvalidCprError(
                "CPR number of 11 characters must have a hyphen after the sixth digit, "
                f"{_FORMAT_HINT}"
            )
        digits = stripped[:6] + stripped[7:]
    elif length == 10:
        digits = stripped
    else:
        too_long = length > _MAX_REPORTED_LENGTH
        shown = f"more than {_MAX_REPORTED_LENGTH}" if too_long else str(length)
        raise InvalidCprError(
            f"CPR number must be 10 digits, {_FORMAT_HINT} (got {shown} characters)"
        )
    if not _is_ascii_digits(digits):
        raise InvalidCprError(
            "CPR number may contain only the ASCII digits 0-9, with an optional hyphen "
            f"after the sixth digit, {_FORMAT_HINT}"
        )
    return digits


def parse_cpr(text: str, *, today: datetime.date | None = None) -> Cpr:
    """Parse and validate a Danish CPR number.

    Parameters
    ----------
    text : str
        ``DDMMYY-SSSS`` or ``DDMMYYSSSS``; surrounding whitespace is ignored.
        Only the ASCII digits 0-9 are accepted.
    today : datetime.date, optional
        The date against which a birth date in the future is rejected;
        defaults to :meth:`datetime.date.today`.

    Returns
    -------
    Cpr
        The parsed number, with birth date, sex and modulus-11 status.

    Raises
    ------
    InvalidCprError
        If the text is not ten ASCII digits in one of the accepted forms, or
        encodes a birth date that does not exist or lies in the future. The
        message never contains the number or any of its digits.
    """
    digits = _normalise(text)
    day = int(digits[0:2])
    month = int(digits[2:4])
    year = century_for(int(digits[4:6]), int(digits[6]))
    if not 1 <= month <= 12:
        raise InvalidCprError(
            "CPR number encodes a birth date that does not exist: the month (MM, the third "
            "and fourth digits) must be from 01 to 12"
        )
    try:
        birth_date = datetime.date(year, month, day)
    except ValueError:
        raise InvalidCprError(
            "CPR number encodes a birth date that does not exist: the day (DD) is not in "
            f"its month; {_CENTURY_HINT}"
        ) from None
    if birth_date > (today if today is not None else datetime.date.today()):
        raise InvalidCprError(f"CPR number encodes a birth date in the future; {_CENTURY_HINT}")
    sex = Sex.MALE if int(digits[9]) % 2 == 1 else Sex.FEMALE
    return Cpr(
        digits=digits,
        birth_date=birth_date,
        sex=sex,
        modulus11_valid=_modulus11_holds(digits),
    )


def is_valid_cpr(text: str) -> bool:
    """Return whether ``text`` is a valid CPR number according to :func:`parse_cpr`.

    Parameters
    ----------
    text : str
        The candidate number.

    Returns
    -------
    bool
        ``True`` if :func:`parse_cpr` accepts it, ``False`` otherwise. Never raises.
    """
    try:
        parse_cpr(text)
    except InvalidCprError:
        return False
    return True


__all__ = ["Cpr", "century_for", "is_valid_cpr", "parse_cpr"]
