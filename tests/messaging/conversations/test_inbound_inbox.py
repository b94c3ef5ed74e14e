"""The console inbox: a fan's text waits until a team member answers it (priority lane) or archives it."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import TestCase
from django.urls import reverse

from accounts.models import Fan
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import text_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _change(client, message, data):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse("admin:messaging_inboundmessage_change", args=[message.pk]), data)


def test_agent_answers_a_fan_from_the_inbox(client, personas, sms_outbox):
    text_in(client, personas.talent, "When is the next show?", str(personas.fan.phone))
    text_in(client, personas.talent, "<b>Also</b> merch?", str(personas.fan.phone))
    first, second = InboundMessage.objects.order_by("received_at", "pk")
    client.force_login(personas.agent)
    listing = client.get(reverse("admin:messaging_inboundmessage_changelist") + "?needs_reply__exact=1")
    assert set(listing.context["cl"].result_list) == {first, second}
    page = client.get(reverse("admin:messaging_inboundmessage_change", args=[second.pk])).content.decode()
    assert "When is the next show?" in page and "&lt;b&gt;Also&lt;/b&gt;" in page

    response = _change(client, second, {"reply": "Friday at 8! Merch at the door."})
    assert response.status_code == 302
    reply = OutboundMessage.objects.get(kind="reply")
    assert reply.sent_by == personas.agent and reply.status == "queued" and reply.fan == personas.fan
    assert sms_outbox[-1].body == "Friday at 8! Merch at the door." and sms_outbox[-1].to == str(personas.fan.phone)
    assert InboundMessage.objects.filter(needs_reply=True).count() == 0
    assert all(m.answered_at for m in InboundMessage.objects.all())


def test_an_opted_out_fan_cannot_be_answered(client, personas, sms_outbox):
    text_in(client, personas.talent, "hey", str(personas.fan.phone))
    message = InboundMessage.objects.get()
    Fan.objects.filter(pk=personas.fan.pk).update(status="opted_out")
    client.force_login(personas.agent)
    response = _change(client, message, {"reply": "hello?"})
    assert response.status_code == 200 and b"Only an active fan can be answered" in response.content
    assert OutboundMessage.objects.count() == 0 and sms_outbox == []


def test_archive_without_answer(client, personas, sms_outbox):
    text_in(client, personas.talent, "lol", str(personas.fan.phone))
    message = InboundMessage.objects.get()
    client.force_login(personas.agent)
    _change(client, message, {"archive": "on"})
    message.refresh_from_db()
    assert not message.needs_reply and message.answered_at
    assert OutboundMessage.objects.count() == 0


def test_analyst_cannot_answer_and_other_talents_cannot_see(client, personas):
    text_in(client, personas.talent, "hey", str(personas.fan.phone))
    message = InboundMessage.objects.get()
    client.force_login(personas.analyst)
    assert _change(client, message, {"reply": "x"}).status_code == 403
    client.force_login(personas.other_manager)
    assert client.get(reverse("admin:messaging_inboundmessage_change", args=[message.pk])).status_code == 404
    assert OutboundMessage.objects.count() == 0
