"""The console's front page shows each of the user's talents at a glance, and only theirs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Fan
from messaging.models import InboundMessage, OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def _text_from(fan: Fan, sid_char: str, body: str, **fields) -> InboundMessage:
    """A text the fan sent to their talent's number."""
    return InboundMessage.objects.create(
        talent=fan.talent,
        fan=fan,
        message_sid="SM" + sid_char * 32,
        from_number=str(fan.phone),
        to_number=str(fan.talent.sender_number),
        body=body,
        **fields,
    )


def test_dashboard_figures_for_own_talent_only(client, personas):
    """Without a current talent (a superuser looking at all), the cards of every talent."""
    now = timezone.now()
    create_fan(personas.talent, status=Fan.Status.OPTED_OUT, opted_out_at=now)
    inbound = _text_from(personas.fan, "a", "when is the next show?", needs_reply=True)
    _text_from(personas.fan, "b", "thanks!", answered_at=now + dt.timedelta(minutes=12))
    InboundMessage.objects.filter(pk=inbound.pk).update(received_at=now)
    for status in ("delivered", "delivered", "delivered", "failed"):
        OutboundMessage.objects.create(talent=personas.talent, fan=personas.fan, to_number="+1", status=status)
    client.force_login(personas.superuser)
    response = client.get("/admin/")
    assert response.status_code == 200
    card = next(c for c in response.context["cards"] if c.talent == personas.talent)
    assert card.active == 1
    assert card.opted_out_recently == 1
    assert card.inbox_waiting == 1
    assert card.replies_recently == 2
    assert card.delivery_rate == 75.0
    # A team member has a current talent: its home page, and nothing of another talent.
    client.force_login(personas.manager)
    html = client.get("/admin/").content.decode()
    assert "Nova Ray at a glance" in html and "Rival Act" not in html


def test_superuser_sees_every_talent(client, personas):
    client.force_login(personas.superuser)
    response = client.get("/admin/")
    names = {card.talent.slug for card in response.context["cards"]}
    assert {"nova", "rival"} <= names


def test_a_burst_shows_its_backlog_its_age_and_what_the_replies_will_cost(client, personas, settings):
    settings.SMS_SEGMENT_PRICE = 0.01
    talent = personas.talent
    talent.parts_per_second = 100
    talent.save()
    for n in range(3):
        InboundMessage.objects.create(
            talent=talent, message_sid=f"SM{n:032d}", from_number=f"+1415555{n:04d}", to_number="x", body="omg"
        )
    InboundMessage.objects.filter(talent=talent).update(received_at=timezone.now() - dt.timedelta(seconds=90))
    for n in range(250):
        OutboundMessage.objects.create(talent=talent, kind="system", to_number=f"+1415556{n:04d}", body="join", parts=2)
    client.force_login(personas.manager)
    page = client.get("/admin/").content.decode()
    assert "3 waiting to be read (the oldest 2 min ago)" in page  # 90 s, said as a person would
    assert "250 replies queued: 500 SMS parts, about $5.00" in page
    assert "leaving in about 5 s at 100 parts a second" in page
    # Another talent's team sees none of it.
    client.force_login(personas.other_manager)
    assert "waiting to be read" not in client.get("/admin/").content.decode()
