"""The signature is computed by twilio's own compute_signature over the POST fields handed to it as
a dict that answers `getall` (issue 10, sixth session, messaging/webhooks/signature.py): it must
sign exactly what it signs over Django's QueryDict, repeated keys and odd values included."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from twilio.request_validator import RequestValidator

from messaging.webhooks.signature import _Fields

URL = "https://fans.example.com/webhooks/twilio/status/?m=12"
BODIES = [
    "MessageSid=SM1&MessageStatus=delivered&To=%2B14155552671",
    "Body=STOP%00&From=%2B1415&Body=again&Body=again&Empty=&=nokey&flag",  # NUL, repeats, blanks
    "Body=%FF%FEbad+%C3%A9&m=%C2%B2&b=2&a=1",  # U+FFFD, a non-ASCII digit, unsorted keys
    "",
]


@pytest.mark.parametrize("body", BODIES)
def test_the_same_signature_as_over_the_querydict(body):
    post = QueryDict(body)
    validator = RequestValidator("token")
    assert validator.compute_signature(URL, _Fields(post.lists())) == validator.compute_signature(URL, post)


@pytest.mark.postgres_only
def test_the_same_signature_on_any_fields():
    from hypothesis import given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    validator = RequestValidator("token")
    chars = "abAB09 +%=&\x00é²\ufffd"
    pairs = st.lists(st.tuples(st.text(chars, max_size=6), st.text(chars, max_size=8)), max_size=12)

    @hsettings(max_examples=100, derandomize=True, deadline=None, database=None)
    @given(pairs)
    def check(fields):
        post = QueryDict(mutable=True)
        for key, value in fields:
            post.appendlist(key, value)
        assert validator.compute_signature(URL, _Fields(post.lists())) == validator.compute_signature(URL, post)

    check()
