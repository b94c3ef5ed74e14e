"""Every place that holds a fan's data is named in messaging/privacy/inventory.py, and erasure does
to each what the inventory says."""

from __future__ import annotations

import os

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.db import models
from django.db.models import Q
from django.test import TestCase
from phonenumber_field.modelfields import PhoneNumberField

from accounts.models import Fan
from consent.models import ConsentRecord
from messaging.conversations.models import InboundMedia
from messaging.models import (
    Click,
    ContactList,
    ContactListMember,
    Conversation,
    ConversationEvent,
    FanTag,
    InboundMessage,
    Note,
    OutboundMessage,
    Tag,
)
from messaging.privacy.inventory import INVENTORY, OnErase, Tie
from messaging.privacy.services import fan_erase
from messaging.sending.models import UndeliverableNumber
from tests.messaging.campaign_fixtures import create_campaign

PROJECT_APPS = {"accounts", "consent", "messaging"}


def _label(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _holds_fan_data(field) -> bool:
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        return field.related_model is Fan
    if isinstance(field, PhoneNumberField | models.JSONField | models.FileField):
        return True
    name = field.name
    return isinstance(field, models.CharField) and ("phone" in name or name.endswith("_number"))


def test_every_relation_to_a_fan_every_phone_json_and_file_field_is_in_the_inventory():
    named = {(p.model, p.field) for p in INVENTORY} | {(p.model, "*") for p in INVENTORY}
    missing = []
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for field in model._meta.get_fields():
            if not getattr(field, "concrete", False) or not _holds_fan_data(field):
                continue
            label = _label(model)
            if (label, field.name) not in named and (label, "*") not in named:
                missing.append(f"{label}.{field.name}")
    assert missing == [], f"name these in messaging/privacy/inventory.py with what erasure does: {missing}"


def test_the_inventory_names_only_real_places():
    for place in INVENTORY:
        if place.model.startswith("django."):
            continue
        model = apps.get_model(place.model)
        if place.field != "*":
            model._meta.get_field(place.field)
        if place.via:
            model._meta.get_field(place.via)


@pytest.mark.django_db
def test_erasure_does_to_every_place_what_the_inventory_says(personas, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    fan, talent = personas.fan, personas.talent
    phone = str(fan.phone)
    campaign = create_campaign(talent)
    out = OutboundMessage.objects.create(
        talent=talent, fan=fan, campaign=campaign, to_number=phone, body="Hi Fiona", media_url="https://x.example/a.jpg"
    )
    OutboundMessage.objects.create(talent=talent, kind="system", to_number=phone, body="code 123456")
    # One text tied to the fan, one only by the number (a keyword text before the fan was matched).
    for n, tied_to, body in ((1, fan, "hey"), (2, None, "HELP")):
        InboundMessage.objects.create(
            talent=talent,
            fan=tied_to,
            message_sid="SM" + str(n) * 32,
            from_number=phone,
            to_number="+15005550006",
            body=body,
            payload={"From": phone},
        )
    ConsentRecord.objects.create(
        fan=fan,
        talent=talent,
        purpose="messaging",
        action="granted",
        method="web_form",
        ip_address="203.0.113.9",
        user_agent="Safari",
    )
    ContactListMember.objects.create(contact_list=ContactList.objects.create(talent=talent, name="VIP"), fan=fan)
    FanTag.objects.create(fan=fan, tag=Tag.objects.create(talent=talent, name="tour"))
    link = campaign.links.create(url="https://tour.example.com")
    Click.objects.create(link=link, message=out, fan=fan)
    UndeliverableNumber.objects.create(talent=talent, phone=phone, error_code="30005")
    conversation = Conversation.objects.create(talent=talent, fan=fan, assignee=personas.agent)
    Note.objects.create(conversation=conversation, fan=fan, author=personas.agent, body="prefers email")
    ConversationEvent.objects.create(conversation=conversation, fan=fan, kind="assigned", assignee=personas.agent)
    # An inbound MMS's stored file (issue 13): row and file go with the fan.
    media = InboundMedia(
        talent=talent,
        fan=fan,
        message=InboundMessage.objects.filter(fan=fan).first(),
        position=0,
        source_url="https://api.twilio.com/x",
        content_type="image/png",
        status="stored",
    )
    media.file.save("m", ContentFile(b"png"), save=True)
    stored = media.file.path
    _automation_rows(fan, talent, campaign)
    # Every place the fan's erasure must empty holds a row of theirs now: a new table in the
    # inventory cannot pass this test without this test making (and erasure removing) its rows.
    empty = [
        p
        for p in INVENTORY
        if p.tie != Tie.NONE and p.on_erase in (OnErase.DELETE, OnErase.WIPE) and not _rows(p, fan, phone).exists()
    ]
    assert empty == [], f"give the fan a row in these before erasing: {empty}"

    with TestCase.captureOnCommitCallbacks(execute=True):  # files are deleted once the erasure commits
        fan_erase(fan=fan)

    assert not os.path.exists(stored)
    fan.refresh_from_db()
    checked = 0
    for place in INVENTORY:
        if place.tie == Tie.NONE or place.model.startswith("django."):
            continue
        model = apps.get_model(place.model)
        rows = _rows(place, fan, phone)
        if place.on_erase == OnErase.DELETE:
            assert not rows.exists(), place
        elif place.on_erase == OnErase.WIPE:
            field = model._meta.get_field(place.field)
            empty = {} if isinstance(field, models.JSONField) else ""
            wiped = Q(**{place.field: empty}) | (Q(**{f"{place.field}__isnull": True}) if field.null else Q(pk__in=[]))
            assert not rows.exclude(wiped).exists(), place
        elif place.on_erase == OnErase.HASH:
            assert getattr(fan, place.field) is None and fan.phone_hash, place
        checked += 1
    assert checked >= 15
    assert fan.status == Fan.Status.ERASED


def _rows(place, fan, phone):
    model = apps.get_model(place.model)
    if place.model == "accounts.Fan":
        return model.objects.filter(pk=fan.pk)
    if place.tie == Tie.FAN:
        return model.objects.filter(**{place.via: fan})
    return model.objects.filter(**{place.via: phone})  # tied by the phone alone


def _automation_rows(fan, talent, campaign) -> None:
    """A row of the fan's in every automation, poll and carrier table (issues 13, 14, 17)."""
    from django.utils import timezone

    from messaging.automations.drop_models import Drop, DropCode, DropEntry
    from messaging.automations.keyword_models import FanKeyword, Keyword, KeywordEntrant, KeywordReply
    from messaging.automations.series_models import (
        DateEnrolment,
        DateMessage,
        DateSend,
        WelcomeEnrolment,
        WelcomeSeries,
        WelcomeStepSend,
    )
    from messaging.conversations.models import Poll, Vote
    from messaging.sending.models import FanCarrier

    now = timezone.now()
    keyword = Keyword.objects.create(talent=talent, word="tour", reply="See you there")
    FanKeyword.objects.create(fan=fan, keyword=keyword, word="tour")
    KeywordEntrant.objects.create(keyword=keyword, fan=fan)
    KeywordReply.objects.create(keyword=keyword, fan=fan, local_date=now.date())
    drop = Drop.objects.create(
        talent=talent,
        name="Presale",
        release_text="Out now",
        release_at=now,
        entrants_list=ContactList.objects.create(talent=talent, name="Presale entrants"),
    )
    DropEntry.objects.create(drop=drop, fan=fan, status="entered")
    DropCode.objects.create(drop=drop, code="PRESALE-1", fan=fan, assigned_at=now)
    series = WelcomeSeries.objects.create(talent=talent, name="Welcome")
    welcome = WelcomeEnrolment.objects.create(talent=talent, series=series, fan=fan, anchor_at=now)
    WelcomeStepSend.objects.create(enrolment=welcome, fan=fan, campaign=campaign, position=1)
    date_message = DateMessage.objects.create(
        talent=talent, name="Birthday", kind="birthday", days=0, local_time="12:00", body="Happy birthday"
    )
    dated = DateEnrolment.objects.create(talent=talent, message=date_message, fan=fan)
    DateSend.objects.create(enrolment=dated, fan=fan, campaign=campaign, occurrence="2026")
    poll = Poll.objects.create(campaign=campaign, question="Where next?", options=[{"key": "1", "label": "Paris"}])
    Vote.objects.create(poll=poll, fan=fan, option="1", voted_at=now)
    FanCarrier.objects.create(fan=fan, carrier="tmobile", carrier_name="T-Mobile USA", line_type="mobile")


# Where the fan's own export (/me/ download, messaging/privacy/services.py fan_data_export) shows
# each table the inventory ties to them. A new table tied to a fan fails the test until it is here.
EXPORTED_AS = {
    "accounts.Fan": "profile",
    "messaging.InboundMessage": "messages",
    "messaging.OutboundMessage": "messages",
    "consent.ConsentRecord": "consents",
    "messaging.ContactListMember": "lists",
    "messaging.FanTag": "tags",
    "messaging.Click": "messages",  # a click is on a text the fan got (counts only)
    "messaging.UndeliverableNumber": "profile",  # the number itself
    "messaging.Conversation": "conversation",
    "messaging.Note": "conversation",
    "messaging.ConversationEvent": "conversation",
    "messaging.Vote": "poll_answers",
    "messaging.FanCarrier": "carrier",
    "messaging.InboundMedia": "conversation",
    "messaging.FanKeyword": "automations",
    "messaging.KeywordEntrant": "keywords_used",
    "messaging.KeywordReply": "messages",  # the reply texts themselves
    "messaging.DropEntry": "automations",
    "messaging.DropCode": "automations",
    "messaging.WelcomeEnrolment": "welcome_series",
    "messaging.WelcomeStepSend": "welcome_series",
    "messaging.DateEnrolment": "date_messages",
    "messaging.DateSend": "date_messages",
}


@pytest.mark.django_db
def test_the_fans_export_shows_every_table_that_holds_their_data(personas):
    from messaging.privacy.services import fan_data_export

    fan, talent = personas.fan, personas.talent
    campaign = create_campaign(talent)
    ContactListMember.objects.create(contact_list=ContactList.objects.create(talent=talent, name="VIP"), fan=fan)
    FanTag.objects.create(fan=fan, tag=Tag.objects.create(talent=talent, name="tour"))
    Conversation.objects.create(talent=talent, fan=fan)
    InboundMessage.objects.create(
        talent=talent, fan=fan, message_sid="SM" + "3" * 32, from_number=str(fan.phone), to_number="+1", body="hey"
    )
    ConsentRecord.objects.create(fan=fan, talent=talent, purpose="messaging", action="granted", method="web_form")
    _automation_rows(fan, talent, campaign)
    tied = {p.model for p in INVENTORY if p.tie != Tie.NONE}
    assert tied - set(EXPORTED_AS) == set(), "say where the fan's export shows these (EXPORTED_AS)"
    export = fan_data_export(fan=fan)
    shown = {key: export[key] for key in set(EXPORTED_AS.values())}
    assert all(shown.values()), {k for k, v in shown.items() if not v}
    assert shown["lists"] == ["VIP"] and shown["tags"] == ["tour"]
    assert shown["keywords_used"][0]["keyword"] == "TOUR"
    assert shown["welcome_series"] == [
        {
            "series": "Welcome",
            "status": "Waiting for the next step",
            "since": shown["welcome_series"][0]["since"],
            "texts_sent": 1,
        }
    ]
    assert shown["date_messages"][0]["texts_sent"] == 1
    assert shown["carrier"] == {"carrier": "T-Mobile USA", "line": "mobile"}
    assert shown["poll_answers"][0]["answer"] == "1"
    assert export["automations"]["drops"][0]["code"] == "PRESALE-1"
