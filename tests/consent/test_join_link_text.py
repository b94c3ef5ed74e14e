"""The join link's text fits one SMS part where it can (a burst's links leave at the sender's parts
a second: two parts a link halve the rate and double the cost), and always keeps the program's
name, the link and the way out."""

from __future__ import annotations

import pytest

from accounts.tokens import JOIN_LINK, preview_links
from consent.texts import join_link
from messaging.sms.parts import sms_parts
from tests.factories import create_talent

pytestmark = pytest.mark.django_db


def _sent(talent) -> str:
    return preview_links(join_link(talent, JOIN_LINK), talent=talent)


def test_a_short_name_keeps_the_greeting_in_one_part(settings):
    settings.PUBLIC_BASE_URL = "https://fans.example.com"
    talent = create_talent("taylor", program_name="Taylor Club")
    sent = _sent(talent)
    assert "Thanks for texting!" in sent and sms_parts(sent).parts == 1


def test_a_long_name_and_address_drop_the_greeting_to_stay_in_one_part(settings):
    # The benchmark's talent: 163 characters with the greeting (two parts), 143 without.
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:45678"
    talent = create_talent("bench-celebrity", program_name="Bench-Celebrity Club")
    sent = _sent(talent)
    assert "Thanks for texting!" not in sent and sms_parts(sent).parts == 1
    assert sent.startswith("Bench-Celebrity Club: Join here: http://127.0.0.1:45678/")
    assert sent.endswith(" Reply STOP to opt out.")


def test_a_name_that_cannot_fit_still_gets_its_link_and_the_way_out(settings):
    settings.PUBLIC_BASE_URL = "https://fans.example.com"
    talent = create_talent("long", program_name="The Extremely Long Official Fan Community Programme Of A Star")
    sent = _sent(talent)
    assert "/join/long/?t=" in sent and sent.endswith("Reply STOP to opt out.")
    assert "Thanks for texting!" not in sent  # the shorter of the two when neither fits one part
