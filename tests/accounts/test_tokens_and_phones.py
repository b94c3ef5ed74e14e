"""Signed links and phone/time-zone helpers."""

from __future__ import annotations

import time

import pytest

from accounts.phones import PhoneError, guess_time_zone, parse_mobile, phone_hash
from accounts.tokens import join_tokens, self_service_tokens
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def test_join_token_round_trip_and_state(personas, settings):
    token = join_tokens.make_token(talent=personas.talent, phone="+14155552671")
    assert join_tokens.check_token(talent=personas.talent, token=token).phone == "+14155552671"
    assert join_tokens.check_token(talent=personas.other_talent, token=token) is None
    # Any change of the fan's link nonce (a signup, a used data link) kills it.
    fan = create_fan(personas.talent, "+14155552671", status="pending", link_nonce="a")
    token = join_tokens.make_token(talent=personas.talent, phone="+14155552671")
    assert join_tokens.check_token(talent=personas.talent, token=token)
    fan.rotate_link_nonce()
    fan.save()
    assert join_tokens.check_token(talent=personas.talent, token=token) is None


def test_join_token_expires(personas, settings):
    settings.JOIN_LINK_MAX_AGE = 3600
    fresh = join_tokens.make_token(talent=personas.talent, phone="+14155552671", timestamp=int(time.time()) - 3500)
    stale = join_tokens.make_token(talent=personas.talent, phone="+14155552671", timestamp=int(time.time()) - 3700)
    future = join_tokens.make_token(talent=personas.talent, phone="+14155552671", timestamp=int(time.time()) + 7200)
    assert join_tokens.check_token(talent=personas.talent, token=fresh)
    assert join_tokens.check_token(talent=personas.talent, token=stale) is None
    assert join_tokens.check_token(talent=personas.talent, token=future) is None


def test_tokens_depend_on_the_secret_key(personas, settings):
    token = self_service_tokens.make_token(fan=personas.fan)
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert self_service_tokens.check_token(token) is None


def test_self_service_token_dies_for_an_erased_fan(personas):
    token = self_service_tokens.make_token(fan=personas.fan)
    personas.fan.status = "erased"
    personas.fan.save()
    assert self_service_tokens.check_token(token) is None


def test_phone_hash_is_keyed_and_per_talent(personas, settings):
    a = phone_hash(talent_id=personas.talent.pk, e164="+14155552671")
    assert a == phone_hash(talent_id=personas.talent.pk, e164="+14155552671")
    assert a != phone_hash(talent_id=personas.other_talent.pk, e164="+14155552671")
    assert len(a) == 64 and "4155552671" not in a
    settings.PHONE_HASH_KEY = "separate-key"
    assert phone_hash(talent_id=personas.talent.pk, e164="+14155552671") != a


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 415 555 2671", None, "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("06 12 34 56 78", "FR", "+33612345678"),
    ],
)
def test_parse_mobile(raw, region, expected):
    assert parse_mobile(raw, region=region) == expected


@pytest.mark.parametrize("raw", ["", "12", "hello", "+44 20 7183 8750", "+1 800 555 1212", "+" + "1" * 40])
def test_parse_mobile_refuses(raw):
    with pytest.raises(PhoneError):
        parse_mobile(raw)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"country": "US", "region": "NY"}, "America/New_York"),
        ({"country": "US", "region": "texas"}, "America/Chicago"),
        ({"country": "US", "postal_code": "98101"}, "America/Los_Angeles"),
        ({"country": "US", "postal_code": "60601"}, "America/Chicago"),
        ({"country": "CA", "region": "BC"}, "America/Vancouver"),
        ({"country": "AU", "region": "WA"}, "Australia/Perth"),
        ({"country": "FR"}, "Europe/Paris"),
        ({"country": "US", "phone": "+12015550123"}, "America/New_York"),
        ({"country": "US"}, ""),
        ({"country": "DE", "phone": "+14155552671"}, "Europe/Berlin"),
    ],
)
def test_guess_time_zone(kwargs, expected):
    assert guess_time_zone(**kwargs) == expected


def test_country_names_table_matches_phonenumbers_geocoder():
    """accounts/countries.py is generated from the geocoder (too heavy to import at run time)."""
    import phonenumbers
    from phonenumbers import geocoder

    from accounts.countries import COUNTRY_NAMES, WRITTEN_HERE

    assert set(COUNTRY_NAMES) == set(phonenumbers.SUPPORTED_REGIONS)
    for code, name in COUNTRY_NAMES.items():
        example = phonenumbers.example_number(code)
        geocoded = geocoder.country_name_for_number(example, "en") if example else ""
        if geocoded:
            assert name == geocoded and code not in WRITTEN_HERE
        else:  # no English name there: written here, never the bare code (issue 15)
            assert code in WRITTEN_HERE and name != code


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "empty"),
        ("x" * 40, "empty"),
        ("banana", "unparseable"),
        ("+1 000 000 0000", "invalid"),
        ("+1 800 555 0100", "not_mobile"),
    ],
)
def test_one_parser_one_error_type_with_a_reason(raw, reason):
    from accounts import phones

    with pytest.raises(PhoneError) as caught:
        phones.parse(raw, mobile=True)
    assert caught.value.reason == reason
    # The fan's form and the import read the same parser: only the wording differs.
    with pytest.raises(PhoneError) as for_fan:
        parse_mobile(raw)
    assert for_fan.value.reason == reason and str(for_fan.value) != str(caught.value)


def test_imports_use_the_same_parser():
    from messaging.audience.imports import normalise_phone

    assert normalise_phone(" +1 (415) 555-2671 ", "US") == "+14155552671"
    with pytest.raises(PhoneError):
        normalise_phone("banana", "US")
