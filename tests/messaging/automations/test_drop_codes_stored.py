"""A drop's box-office code never sits in a stored message body (issue 14 §3): the confirmation and
"you made it" keep a reference to the (drop, fan) pair, and the priority lane fills the code in only
in the text handed to the provider. The fan still gets it; SMS parts are counted on what leaves."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from messaging.automations import replies
from messaging.automations.codes import PREFIX, fill_bodies
from messaging.automations.drop_models import Drop
from messaging.automations.drops import drop_codes_upload, drop_join, drop_save
from messaging.automations.keyword_models import Keyword
from messaging.conversations.priority import priority_send_batch
from messaging.models import OutboundMessage
from messaging.sending import dispatch
from tests.accounts.join_support import text_in
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

CODE = "BOX-4417"


def _drop(personas, confirmation: str = "You're in. Code: {code}") -> Drop:
    drop = drop_save(
        drop=Drop(
            talent=personas.talent,
            name="Presale",
            confirmation=confirmation,
            release_text="The presale is open.",
            release_at=timezone.now() + dt.timedelta(minutes=10),
            made_it="You made it! Code: {code}",
            fallback_text="You're in; the codes have gone.",
        ),
        actor=personas.manager,
    )
    drop_codes_upload(drop=drop, data=f"{CODE}\n".encode(), actor=personas.manager)
    Keyword.objects.create(talent=personas.talent, word="presale", drop=drop)
    return drop


def _no_code_stored() -> None:
    assert OutboundMessage.objects.exists()
    assert not OutboundMessage.objects.filter(body__contains=CODE).exists()


def test_a_keyword_join_stores_a_reference_and_the_fan_gets_the_code(client, personas, sms_outbox):
    drop = _drop(personas)
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)  # the rule processor's chunk path
    assert [m.body for m in sms_outbox if m.to == str(personas.fan.phone)] == [f"You're in. Code: {CODE}"]
    _no_code_stored()
    row = OutboundMessage.objects.get(kind=OutboundMessage.Kind.REPLY)
    assert row.body == f"You're in. Code: {PREFIX}{drop.pk}}}"  # staff, the API and webhooks read this


def test_you_made_it_after_the_release_keeps_the_code_out_of_the_body_too(client, personas, sms_outbox, backend):
    drop = _drop(personas, confirmation="You're in.")
    drop.campaign.send_at = timezone.now() - dt.timedelta(minutes=1)
    drop.campaign.save(update_fields=["send_at"])
    dispatch.campaign_dispatch()  # the release starts without this fan
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)
    assert [m.body for m in sms_outbox if m.to == str(personas.fan.phone)] == [f"You made it! Code: {CODE}"]
    _no_code_stored()


def test_parts_are_counted_on_the_text_that_leaves_not_on_the_reference(personas, sms_outbox):
    # 160 characters with the 8-character code: one part. The stored reference is longer (two parts
    # if it were counted), a shorter one would hide a second part: the code's own length counts.
    confirmation = "x" * (160 - len(CODE)) + "{code}"
    drop = _drop(personas, confirmation=confirmation)
    web_fan = create_fan(personas.talent, "+14155550177")
    with TestCase.captureOnCommitCallbacks(execute=False):
        with transaction.atomic():
            joined = drop_join(drop=drop, fan=web_fan)
            assert replies.reply(fan=web_fan, body=joined.text, code=joined.code)  # the drop page's path
    row = OutboundMessage.objects.get(fan=web_fan)
    assert CODE not in row.body and row.parts == 1
    priority_send_batch()
    assert [m.body for m in sms_outbox] == ["x" * (160 - len(CODE)) + CODE]
    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.QUEUED and CODE not in row.body and row.parts == 1


def test_each_fan_gets_their_own_code_and_a_code_gone_leaves_none(personas):
    drop = _drop(personas)
    other = create_fan(personas.talent, "+14155550178")
    drop_join(drop=drop, fan=personas.fan)
    ref = f"Code: {PREFIX}{drop.pk}}}"
    bodies = fill_bodies([(personas.fan.pk, ref), (other.pk, ref), (personas.fan.pk, "Hello"), (None, ref)])
    assert bodies == [f"Code: {CODE}", "Code: ", None, None]


def test_the_fans_own_data_export_shows_their_code_not_the_reference(client, personas, sms_outbox):
    """The fan reads their own texts as they got them (/me/ and its download); staff never do."""
    from messaging.privacy.services import fan_data_export

    _drop(personas)
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)
    bodies = [m["body"] for m in fan_data_export(fan=personas.fan)["messages"] if m["direction"] == "to_you"]
    assert f"You're in. Code: {CODE}" in bodies
    assert not any(PREFIX in body for body in bodies)
    _no_code_stored()
