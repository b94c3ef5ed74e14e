"""The webhook fast path reads the form body itself (issue 10, fifth session): what the views see
must be exactly what Django's QueryDict would have given them, and every refusal stays."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.test import RequestFactory, override_settings

from fancommunity.middleware import _parse_form
from messaging.models import InboundMessage
from tests.accounts.join_support import post_inbound, sign, twilio_inbound_payload

BODIES = [
    b"MessageSid=SM1&From=%2B14155552671&Body=STOP",
    b"Body=STOP%00&From=%2B1415&Body=again&Empty=&=nokey&flag",  # NUL, a repeated key, blanks
    b"Body=%FF%FEbad+utf8+%C3%A9&To=%2B1",  # invalid UTF-8 in an escape: U+FFFD, as QueryDict does
    b"Body=\xff\xfe raw bytes",  # raw non-UTF-8 bytes: QueryDict's iso-8859-1 fallback
    b"Body=%E2%91%A0%C2%B2&m=%C2%B2&a=1;b=2&&&",  # non-ASCII digits, a semicolon, empty pairs
    b"&",  # no field at all (an empty body gets no Content-Type from RequestFactory)
]


@pytest.mark.parametrize("body", BODIES)
def test_the_fast_parse_gives_what_querydict_gives(body):
    request = RequestFactory().generic("POST", "/webhooks/twilio/inbound/", body, "application/x-www-form-urlencoded")
    _parse_form(request)
    assert hasattr(request, "_post")  # parsed by the fast path, not lazily by Django below
    expected = QueryDict(body, encoding="utf-8")
    assert isinstance(request.POST, QueryDict) and not request.POST._mutable
    assert dict(request.POST.lists()) == dict(expected.lists())
    assert list(request.POST) == list(expected)
    assert not request.FILES


def test_other_content_types_and_charsets_are_left_to_django():
    factory = RequestFactory()
    json_post = factory.generic("POST", "/webhooks/twilio/inbound/", b"Body=x", "application/json")
    latin = factory.generic(
        "POST", "/webhooks/twilio/inbound/", b"Body=x", "application/x-www-form-urlencoded; charset=latin-1"
    )
    for request in (json_post, latin, factory.get("/webhooks/twilio/inbound/?Body=x")):
        _parse_form(request)
        assert not hasattr(request, "_post")


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=20)
def test_too_many_fields_is_a_400_not_a_500(client, personas, sms_outbox):
    body = "&".join(f"f{i}=x" for i in range(30))
    answer = client.generic("POST", "/webhooks/twilio/inbound/", body, "application/x-www-form-urlencoded")
    assert answer.status_code == 400


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_a_body_past_the_size_limit_is_a_400(client, personas, sms_outbox):
    answer = client.generic(
        "POST", "/webhooks/twilio/inbound/", "Body=" + "x" * 20_000, "application/x-www-form-urlencoded"
    )
    assert answer.status_code == 400
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_the_fast_path_still_checks_the_signature(client, personas, sms_outbox):
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_="+14155552671")
    signature = sign(payload)
    payload["Body"] = "changed after signing"
    forged = client.post("/webhooks/twilio/inbound/", payload, HTTP_X_TWILIO_SIGNATURE=signature)
    assert forged.status_code == 403
    assert post_inbound(client, payload, signature="").status_code == 403  # no signature at all
    assert not InboundMessage.objects.exists()
    assert post_inbound(client, payload).status_code == 200  # signed as sent: stored
    assert InboundMessage.objects.get().body == "changed after signing"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "&",
        "a",
        "a=",
        "=b",
        "==",
        "a=b=c",
        "a+b=c+d",
        "%2B=%2b&%zz=%&x=%E2%82",
        "a=1&&b=2&",
        "a;b=c",
        "Body=STOP%00&From=%2B14155552671",
        "k%3Dv=%26&k=%C3%A9+%C3",
        "x=\u00e9\u00ff+\x00",
    ],
)
def test_the_pair_splitter_is_parse_qsl(text):
    from urllib.parse import parse_qsl

    from fancommunity.middleware import _form_pairs

    assert _form_pairs(text) == parse_qsl(text, keep_blank_values=True, encoding="utf-8")


@pytest.mark.postgres_only
def test_the_pair_splitter_is_parse_qsl_on_any_text():
    from urllib.parse import parse_qsl

    from hypothesis import given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    from fancommunity.middleware import _form_pairs

    @hsettings(max_examples=300, derandomize=True, deadline=None, database=None)
    @given(st.text(alphabet="ab=&+%2BCF0é\x00;", max_size=30))
    def check(text):
        assert _form_pairs(text) == parse_qsl(text, keep_blank_values=True, encoding="utf-8")

    check()
