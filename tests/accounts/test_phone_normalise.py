"""phones.normalise, the webhook's parse of every sender (issue 10, sixth session): a US number in
E.164 skips phonenumbers, anything else is parsed once per process. Both must give exactly what
phonenumbers gives (the reference below is the old body of normalise)."""

from __future__ import annotations

import phonenumbers
import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts import phones


def reference(raw: str) -> str:
    try:
        number = phonenumbers.parse(raw or "", settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return (raw or "").strip()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Every area code (first digit 2-9), each with exchanges and lines at both ends of their range:
# 800 x 4 numbers through the fast path, and the near misses that must take phonenumbers' way.
TABLE = [f"+1{area}{rest}" for area in range(200, 1000) for rest in ("0000000", "2000000", "5551234", "9999999")]
NEAR_MISSES = [
    "+11234567890",  # area code starting with 1: NANP's national prefix
    "+10234567890",
    "+1312200000",  # nine digits
    "+131220000000",  # eleven
    "+1 312 200 0000",
    " +13122000000",
    "+13122000000\n",
    "+1312200000²",  # a digit to Python, not to a phone
    "+1312２000000",  # a full-width digit: phonenumbers reads it as 2
    "13122000000",
    "3122000000",
    "+443122000000",
    "+447700900123",
    "",
    "not a number",
    "+1312200000\x00",
    "+1312200000" + "0" * 40,  # too long to memoise
    "x" * 2000,
]


def test_every_area_code_gives_phonenumbers_answer():
    assert [phones.normalise(raw) for raw in TABLE] == [reference(raw) for raw in TABLE]


@pytest.mark.parametrize("raw", NEAR_MISSES)
def test_near_misses_take_phonenumbers_way(raw):
    phones._normalised.cache_clear()
    assert phones.normalise(raw) == reference(raw)
    assert phones.normalise(raw) == reference(raw)  # the memo's answer is the same


def test_a_us_sender_costs_no_parse(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("phonenumbers parsed a plain +1 number")

    monkeypatch.setattr(phonenumbers, "parse", refuse)
    assert phones.normalise("+13122000000") == "+13122000000"


_DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=13)
_NOISE = st.text(alphabet="0123456789+ -().²٣\x00\n", min_size=0, max_size=16)


@pytest.mark.postgres_only
@hsettings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(st.one_of(_DIGITS.map(lambda d: "+1" + d), _DIGITS.map(lambda d: "+" + d), _NOISE))
def test_normalise_equals_phonenumbers(raw):
    assert phones.normalise(raw) == reference(raw)
