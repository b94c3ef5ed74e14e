"""A burst's numbers are parsed and validated once, not at every step (issue 10, fifth session).

django-phonenumber-field parses a number for every lookup and insert, and validates it again on
every str() and bool(); the rule processor asked ~11 parses and ~10 validations of each new number,
the lane ~5 validations a link: a third of the rule cost. accounts/phones.py keeps the answers per
process (`known_number`, `phone_text`). These tests count the library's calls.
"""

from __future__ import annotations

import asyncio

import phonenumbers
import pytest

from accounts import phones
from accounts.models import Fan
from messaging.conversations import inbound, priority
from messaging.sms.backends.base import BaseSmsBackend, SendResult
from messaging.sms.models import InboundMessage, OutboundMessage
from tests.messaging.conversations.test_lane_no_idle import link_row

pytestmark = pytest.mark.django_db
N = 20


@pytest.fixture
def counted(monkeypatch):
    """Counts phonenumbers' parse and is_valid_number calls, with the per-process memo emptied."""
    for memo in (phones._parsed, phones.is_possible_e164, phones.country_of, phones._zones_of, phones._known):
        memo.cache_clear()
    phones._TEXTS.clear()
    calls = {"parse": 0, "valid": 0}
    parse, valid = phonenumbers.parse, phonenumbers.is_valid_number

    def counting_parse(*args, **kwargs):
        calls["parse"] += 1
        return parse(*args, **kwargs)

    def counting_valid(*args, **kwargs):
        calls["valid"] += 1
        return valid(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    monkeypatch.setattr(phonenumbers, "is_valid_number", counting_valid)
    monkeypatch.setattr(inbound, "priority_lane_kick", lambda **kwargs: None)  # the lane runs below, not inline
    return calls


def test_the_rule_processor_parses_each_new_number_a_few_times_and_validates_it_once(personas, counted):
    talent = personas.talent
    numbers = [f"+1312200{i:04d}" for i in range(N)]
    InboundMessage.objects.bulk_create(
        InboundMessage(talent=talent, message_sid=f"SM{i:032d}", from_number=n, body="omg hi", payload={})
        for i, n in enumerate(numbers)
    )
    counted.update(parse=0, valid=0)
    assert inbound.inbound_process_batch(limit=N) == N
    parsed, validated = counted["parse"], counted["valid"]
    # Same decisions as ever: one pending fan with its country and zone, one link per number.
    fans = Fan.objects.filter(talent=talent, phone__in=numbers)
    assert sorted(str(f.phone) for f in fans) == numbers
    assert {(f.status, f.country) for f in fans} == {(Fan.Status.PENDING, "US")}
    links = OutboundMessage.objects.filter(talent=talent, lane=OutboundMessage.Lane.LINK)
    assert sorted(links.values_list("to_number", flat=True)) == numbers
    # Once to read it, once as the field's value, once as each fan row comes back from the
    # database; validated once (was ~11 parses and ~10 validations a number, plus one parse of the
    # talent's own number a text).
    assert parsed <= 3 * N + 5, parsed
    assert validated <= N + 5, validated


class Sent(BaseSmsBackend):
    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def send_async(self, message):
        self.bodies.append(message.body)
        return SendResult(sid=f"SM{len(self.bodies):032d}", parts=1)


def test_the_lane_validates_a_link_s_number_at_most_once(personas, counted):
    talent = personas.talent
    talent.parts_per_second = 10_000
    talent.save(update_fields=["parts_per_second"])
    fans = [Fan.objects.create(talent=talent, phone=f"+1312300{i:04d}", status=Fan.Status.PENDING) for i in range(N)]
    body = inbound._JoinLinkText(talent).body
    rows = [link_row(talent, fan, i + 1, body) for i, fan in enumerate(fans)]
    counted.update(parse=0, valid=0)
    backend = Sent()
    asyncio.run(priority._send_all(priority._rendered(rows), backend, recheck=False))
    assert len(backend.bodies) == N and all("?t=" in b for b in backend.bodies)
    # Each fan's number read back once (its parse) and validated once (was 5 validations a link:
    # the talent's number twice and the fan's three times), the talent's once.
    assert counted["valid"] <= N + 2, counted
    assert counted["parse"] <= N + 2, counted


def test_phone_text_is_str_of_the_number(db):
    from phonenumber_field.phonenumber import to_python

    for raw in ["+13122000267", "+1 312 200 0267", "+390612345678", "+1312", "not a number", "+447911123456"]:
        value = to_python(raw)
        assert phones.phone_text(value) == str(value)
        known = phones.known_number(raw)
        assert str(known) == str(value) and known == value and hash(known) == hash(value)
        assert known.is_valid() == value.is_valid()
    changed = to_python("+13122000267")
    changed.national_number = 3122000268  # built or changed after parsing: asked directly, not memoised
    assert phones.phone_text(changed) == "+13122000268"
    assert phones.phone_text(None) == "" and phones.phone_text("+13122000267") == "+13122000267"
