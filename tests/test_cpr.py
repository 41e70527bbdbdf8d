"""Tests of helgenom.core.cpr: parsing of Danish CPR numbers."""

from __future__ import annotations

import datetime
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helgenom.core.cpr import Cpr, century_for, is_valid_cpr, parse_cpr
from helgenom.core.errors import InvalidCprError, InvalidInputError
from helgenom.core.models import Sex

WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
FIXED_TODAY = datetime.date(2024, 6, 15)
TODAY = datetime.date.today()
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mod11(digits: str) -> bool:
    """Independent modulus-11 computation for the tests."""
    return sum(int(d) * w for d, w in zip(digits, WEIGHTS, strict=True)) % 11 == 0


def admitting_seventh_digits(year: int) -> list[int]:
    """Seventh digits that encode ``year``, written out from the rules independently."""
    yy = year % 100
    if 1858 <= year <= 1899:
        return [5, 6, 7, 8]
    if 1900 <= year <= 1936:
        return [0, 1, 2, 3]
    if 1937 <= year <= 1999:
        return [0, 1, 2, 3, 4, 9]
    if 2000 <= year <= 2036:
        return [4, 5, 6, 7, 8, 9]
    if 2037 <= year <= 2057:
        assert yy <= 57
        return [5, 6, 7, 8]
    return []


def four_char_windows(text: str) -> set[str]:
    return {text[i : i + 4] for i in range(len(text) - 3)}


# --------------------------------------------------------------------------- corpus

VALID = [
    # (id, text, birth date, sex)
    ("classic-hyphen", "070761-4285", datetime.date(1961, 7, 7), Sex.MALE),
    ("classic-no-hyphen", "0707614285", datetime.date(1961, 7, 7), Sex.MALE),
    ("surrounding-whitespace", "  070761-4285\n\t", datetime.date(1961, 7, 7), Sex.MALE),
    ("female-even-last", "0101901234", datetime.date(1990, 1, 1), Sex.FEMALE),
    ("male-odd-last", "0101901233", datetime.date(1990, 1, 1), Sex.MALE),
    ("zero-last-female", "0101901230", datetime.date(1990, 1, 1), Sex.FEMALE),
    # seventh digit 0-3: always 1900+YY
    ("s0-yy00", "0101000000", datetime.date(1900, 1, 1), Sex.FEMALE),
    ("s3-yy36", "0101363000", datetime.date(1936, 1, 1), Sex.FEMALE),
    ("s3-yy99", "3112993001", datetime.date(1999, 12, 31), Sex.MALE),
    # seventh digit 4: YY 00-36 -> 2000+YY, 37-99 -> 1900+YY
    ("s4-yy00", "0101004000", datetime.date(2000, 1, 1), Sex.FEMALE),
    ("s4-yy36", "0101364000", datetime.date(1936 + 100, 1, 1), Sex.FEMALE),
    ("s4-yy37", "0101374000", datetime.date(1937, 1, 1), Sex.FEMALE),
    ("s4-yy99", "0101994000", datetime.date(1999, 1, 1), Sex.FEMALE),
    # seventh digit 9: same as 4
    ("s9-yy36", "0101369000", datetime.date(2036, 1, 1), Sex.FEMALE),
    ("s9-yy37", "0101379000", datetime.date(1937, 1, 1), Sex.FEMALE),
    # seventh digits 5-8: YY 00-57 -> 2000+YY, 58-99 -> 1800+YY
    ("s5-yy57", "0101575000", datetime.date(2057, 1, 1), Sex.FEMALE),
    ("s5-yy58", "0101585000", datetime.date(1858, 1, 1), Sex.FEMALE),
    ("s8-yy57", "0101578000", datetime.date(2057, 1, 1), Sex.FEMALE),
    ("s8-yy58", "0101588000", datetime.date(1858, 1, 1), Sex.FEMALE),
    ("s6-yy99", "3112996001", datetime.date(1899, 12, 31), Sex.MALE),
    ("s7-yy00", "0101007000", datetime.date(2000, 1, 1), Sex.FEMALE),
    # leap days
    ("leap-2000-s4", "2902004000", datetime.date(2000, 2, 29), Sex.FEMALE),
    ("leap-2000-s5", "290200-5001", datetime.date(2000, 2, 29), Sex.MALE),
    ("leap-1904-s0", "2902040001", datetime.date(1904, 2, 29), Sex.MALE),
    ("leap-1996-s4", "2902964000", datetime.date(1996, 2, 29), Sex.FEMALE),
]


@pytest.mark.parametrize(
    ("text", "birth_date", "sex"),
    [pytest.param(t, d, s, id=i) for i, t, d, s in VALID],
)
def test_valid_corpus(text: str, birth_date: datetime.date, sex: Sex) -> None:
    # a far future "today" so that 2036/2057 birth dates count as past
    cpr = parse_cpr(text, today=datetime.date(2100, 1, 1))
    assert cpr.birth_date == birth_date
    assert cpr.sex is sex
    digits = text.strip().replace("-", "")
    assert cpr.digits == digits
    assert cpr.formatted() == f"{digits[:6]}-{digits[6:]}"
    assert cpr.modulus11_valid is mod11(digits)


INVALID = [
    # (id, text, fragment expected in the message)
    ("empty", "", "10 digits"),
    ("whitespace-only", "   ", "10 digits"),
    ("nine-digits", "070761428", "got 9 characters"),
    ("eleven-digits", "07076142851", "hyphen"),
    ("twelve-with-hyphen", "070761-42851", "got 12 characters"),
    ("double-hyphen", "070761--4285", "10 digits"),
    ("hyphen-misplaced", "07076-14285", "hyphen"),
    ("slash-separator", "070761/4285", "hyphen"),
    ("space-separator", "070761 4285", "hyphen"),
    ("plus-sign", "+070761428", "ASCII digits"),
    ("letters", "07O7614285", "ASCII digits"),
    ("arabic-indic", "\u0660\u0667\u0660\u0667\u0666\u0661\u0664\u0662\u0668\u0665", "ASCII"),
    ("fullwidth", "\uff10\uff17\uff10\uff17\uff16\uff11\uff14\uff12\uff18\uff15", "ASCII"),
    ("mixed-unicode-digit", "070761428\u0665", "ASCII digits"),
    ("month-13", "0113901234", "month"),
    ("month-00", "0100901234", "month"),
    ("day-00", "0001901234", "does not exist"),
    ("day-32", "3201901234", "does not exist"),
    ("feb-30", "3002861234", "does not exist"),
    ("leap-1900-s0", "2902000123", "does not exist"),
    ("leap-1900-s3", "290200-3123", "does not exist"),
    ("non-leap-2001-s4", "2902014000", "does not exist"),
    ("apr-31", "3104901234", "does not exist"),
]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [pytest.param(t, f, id=i) for i, t, f in INVALID],
)
def test_invalid_corpus(text: str, fragment: str) -> None:
    with pytest.raises(InvalidCprError) as info:
        parse_cpr(text)
    message = str(info.value)
    assert fragment in message
    assert message.startswith("CPR number")
    for window in four_char_windows(text):
        assert window not in message
    assert not is_valid_cpr(text)


def test_error_is_in_the_tree() -> None:
    with pytest.raises(InvalidInputError):
        parse_cpr("nope")
    with pytest.raises(ValueError, match="10 digits"):
        parse_cpr("nope")
    assert InvalidCprError("x").code == "invalid_cpr"


def test_non_str_input_is_invalid_cpr() -> None:
    with pytest.raises(InvalidCprError):
        parse_cpr(707614285)  # type: ignore[arg-type]
    assert not is_valid_cpr(None)  # type: ignore[arg-type]


def test_long_input_length_not_echoed() -> None:
    text = "1000" * 250  # 1000 characters
    with pytest.raises(InvalidCprError) as info:
        parse_cpr(text)
    assert "1000" not in str(info.value)
    assert "more than 99" in str(info.value)


def test_future_birth_date() -> None:
    # seventh digit 5, YY 25 -> 2025
    with pytest.raises(InvalidCprError, match="in the future") as info:
        parse_cpr("0101255000", today=datetime.date(2024, 12, 31))
    assert "2025" not in str(info.value)
    assert "0101" not in str(info.value)
    # the birth date equal to today is accepted
    assert parse_cpr("0101255000", today=datetime.date(2025, 1, 1)).birth_date == (
        datetime.date(2025, 1, 1)
    )


def test_future_against_real_today() -> None:
    # Read the date now, not at import: a run that crosses midnight must not flake.
    today = datetime.date.today()
    tomorrow = today + datetime.timedelta(days=1)
    yy = tomorrow.year % 100
    digit = admitting_seventh_digits(tomorrow.year)[0]
    text = f"{tomorrow.day:02d}{tomorrow.month:02d}{yy:02d}{digit}000"
    assert not is_valid_cpr(text)
    today_text = f"{today.day:02d}{today.month:02d}{today.year % 100:02d}"
    today_text += f"{admitting_seventh_digits(today.year)[0]}000"
    assert is_valid_cpr(today_text)


def test_2057_is_future_for_now() -> None:
    if datetime.date(2057, 1, 1) > TODAY:
        assert not is_valid_cpr("0101575000")


def test_modulus11_examples() -> None:
    classic = parse_cpr("070761-4285")
    assert mod11("0707614285")
    assert classic.modulus11_valid is True
    assert classic.birth_date == datetime.date(1961, 7, 7)
    assert classic.sex is Sex.MALE
    # changing the last digit breaks the modulus-11 check but not validity
    other = parse_cpr("070761-4286")
    assert not mod11("0707614286")
    assert other.modulus11_valid is False
    assert other.sex is Sex.FEMALE


def test_century_for_table() -> None:
    assert century_for(87, 0) == 1987
    assert century_for(0, 3) == 1900
    assert century_for(36, 4) == 2036
    assert century_for(37, 4) == 1937
    assert century_for(36, 9) == 2036
    assert century_for(37, 9) == 1937
    assert century_for(57, 5) == 2057
    assert century_for(58, 5) == 1858
    assert century_for(57, 8) == 2057
    assert century_for(58, 8) == 1858
    for year2 in range(100):
        for digit in range(10):
            year = century_for(year2, digit)
            assert year % 100 == year2
            assert digit in admitting_seventh_digits(year)


@pytest.mark.parametrize(("year2", "digit"), [(-1, 0), (100, 0), (0, -1), (0, 10), (True, 0)])
def test_century_for_rejects_out_of_range(year2: int, digit: int) -> None:
    with pytest.raises(InvalidCprError):
        century_for(year2, digit)


def test_repr_and_str_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    cpr = parse_cpr("070761-4285")
    assert repr(cpr) == "Cpr(<redacted>)"
    assert str(cpr) == "Cpr(<redacted>)"
    assert f"{cpr}" == "Cpr(<redacted>)"
    assert f"{cpr!r}" == "Cpr(<redacted>)"
    assert format(cpr, "") == "Cpr(<redacted>)"
    assert repr([cpr]) == "[Cpr(<redacted>)]"
    with caplog.at_level(logging.INFO):
        logging.getLogger("test_cpr").info("person %s / %r", cpr, cpr)
    assert "0707" not in caplog.text
    assert "1961" not in caplog.text


def test_cpr_is_frozen_and_checks_digits() -> None:
    cpr = parse_cpr("0707614285")
    with pytest.raises(AttributeError):
        cpr.digits = "0101901234"  # type: ignore[misc]
    assert cpr == parse_cpr("070761-4285")
    assert hash(cpr) == hash(parse_cpr("070761-4285"))
    with pytest.raises(InvalidCprError):
        Cpr(
            digits="07076142",
            birth_date=datetime.date(1961, 7, 7),
            sex=Sex.MALE,
            modulus11_valid=False,
        )


# --------------------------------------------------------------------------- properties

EARLIEST = datetime.date(1858, 1, 1)


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, datetime.date, Sex]:
    birth = draw(st.dates(min_value=EARLIEST, max_value=min(TODAY, datetime.date(2057, 12, 31))))
    seventh = draw(st.sampled_from(admitting_seventh_digits(birth.year)))
    middle = draw(st.integers(min_value=0, max_value=99))
    last = draw(st.integers(min_value=0, max_value=9))
    text = f"{birth.day:02d}{birth.month:02d}{birth.year % 100:02d}{seventh}{middle:02d}{last}"
    return text, birth, Sex.MALE if last % 2 else Sex.FEMALE


@FAST
@given(valid_numbers())
def test_roundtrip(case: tuple[str, datetime.date, Sex]) -> None:
    text, birth, sex = case
    hyphenated = f"{text[:6]}-{text[6:]}"
    for form in (text, hyphenated, f" {hyphenated} "):
        cpr = parse_cpr(form)
        assert cpr.birth_date == birth
        assert cpr.sex is sex
        assert cpr.digits == text
        assert cpr.modulus11_valid is mod11(text)
        assert cpr.formatted() == hyphenated
        assert parse_cpr(cpr.formatted()) == cpr
        assert is_valid_cpr(form)


@FAST
@given(valid_numbers())
def test_repr_never_contains_digits(case: tuple[str, datetime.date, Sex]) -> None:
    cpr = parse_cpr(case[0])
    for shown in (repr(cpr), str(cpr), f"{cpr}", format(cpr, "")):
        assert shown == "Cpr(<redacted>)"
        assert not any(char.isdigit() for char in shown)


@FAST
@given(
    st.one_of(
        st.text(max_size=20),
        st.text(alphabet="0123456789- \t\n\u0660\u0665\uff11/+", max_size=14),
    )
)
def test_random_strings_raise_only_invalid_cpr(text: str) -> None:
    try:
        cpr = parse_cpr(text)
    except InvalidCprError:
        assert not is_valid_cpr(text)
    else:
        assert isinstance(cpr, Cpr)
        assert is_valid_cpr(text)


digit_strings = st.one_of(
    st.text(alphabet="0123456789", max_size=15),
    st.text(alphabet="0123456789", min_size=10, max_size=10),
    st.tuples(
        st.text(alphabet="0123456789", min_size=6, max_size=6),
        st.text(alphabet="0123456789", min_size=4, max_size=4),
    ).map(lambda parts: f"{parts[0]}-{parts[1]}"),
    st.text(alphabet="0123456789-", min_size=9, max_size=12),
)


@FAST
@given(digit_strings)
def test_error_messages_never_echo_digits(text: str) -> None:
    try:
        parse_cpr(text, today=FIXED_TODAY)
    except InvalidCprError as exc:
        message = str(exc)
        for window in four_char_windows(text):
            assert window not in message, (window, message)
        for arg in exc.args:
            for window in four_char_windows(text):
                assert window not in str(arg)


@FAST
@given(valid_numbers())
def test_future_date_message_does_not_echo(case: tuple[str, datetime.date, Sex]) -> None:
    text = case[0]
    # a "today" before the birth date makes the number invalid as future-dated
    today = case[1] - datetime.timedelta(days=1)
    with pytest.raises(InvalidCprError, match="future") as info:
        parse_cpr(text, today=today)
    for window in four_char_windows(text):
        assert window not in str(info.value)
