"""One signup link per link lifetime (JOIN_LINK_MAX_AGE), however often a number texts: on the
rule processor's bulk path and on the one-by-one path (a talent keyword from a stranger). How
PostgreSQL plans the look-up: tests/messaging/conversations/test_burst_plans.py."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from messaging.automations.keyword_models import Keyword
from messaging.conversations import inbound
from messaging.sms.models import InboundMessage, OutboundMessage

pytestmark = pytest.mark.django_db
Action = InboundMessage.Action
_sids = itertools.count()


def _texts(talent, number: str, body: str, count: int = 1) -> None:
    InboundMessage.objects.bulk_create(
        InboundMessage(talent=talent, message_sid=f"SM{next(_sids):032d}", from_number=number, body=body, payload={})
        for _ in range(count)
    )


def _actions(number: str) -> list[str]:
    return list(InboundMessage.objects.filter(from_number=number).order_by("id").values_list("action", flat=True))


@pytest.fixture
def quiet_lane(monkeypatch):
    monkeypatch.setattr(inbound, "priority_lane_kick", lambda **kwargs: None)


@pytest.mark.parametrize("body", ["omg hi", "TOUR"])  # the bulk path; a keyword goes one by one
def test_a_number_gets_one_link_a_lifetime_and_another_after_it(personas, settings, quiet_lane, body):
    talent = personas.talent
    if body == "TOUR":
        Keyword.objects.create(talent=talent, word="tour", reply="Dates soon")
    number = "+13125550190"
    _texts(talent, number, body, count=2)
    inbound.inbound_process_batch()
    assert _actions(number) == [Action.JOIN_LINK, Action.JOIN_LINK_SKIPPED]
    links = OutboundMessage.objects.filter(to_number=number, lane=OutboundMessage.Lane.LINK)
    assert links.count() == 1

    # The first link's lifetime runs out: the next text gets a new one, then no more.
    old = timezone.now() - dt.timedelta(seconds=settings.JOIN_LINK_MAX_AGE + 60)
    InboundMessage.objects.filter(from_number=number).update(received_at=old)
    _texts(talent, number, body, count=2)
    inbound.inbound_process_batch()
    assert _actions(number)[2:] == [Action.JOIN_LINK, Action.JOIN_LINK_SKIPPED]
    assert links.count() == 2
