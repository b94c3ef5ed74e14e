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
    InboundMessage.objects.create(
        talent=talent,
        fan=fan,
        message_sid="SM" + "1" * 32,
        from_number=phone,
        to_number="+15005550006",
        body="hey",
        payload={"From": phone},
    )
    InboundMessage.objects.create(
        talent=talent,
        message_sid="SM" + "2" * 32,
        from_number=phone,
        to_number="+15005550006",
        body="HELP",
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

    with TestCase.captureOnCommitCallbacks(execute=True):  # files are deleted once the erasure commits
        fan_erase(fan=fan)

    assert not os.path.exists(stored)
    fan.refresh_from_db()
    checked = 0
    for place in INVENTORY:
        if place.tie == Tie.NONE or place.model.startswith("django."):
            continue
        model = apps.get_model(place.model)
        if place.model == "accounts.Fan":
            rows = model.objects.filter(pk=fan.pk)
        elif place.tie == Tie.FAN:
            rows = model.objects.filter(**{place.via: fan})
        else:  # tied by the phone alone: no row may still carry it
            rows = model.objects.filter(**{place.via: phone})
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
