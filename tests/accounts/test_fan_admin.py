"""The Fans pages: phone search in any format, bounded filters, adding a fan in the console (with how
they agreed, or a signup link), and the fan's profile with its audited data requests."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Fan
from consent.models import ConsentRecord
from messaging.models import ContactList, FanTag, Tag
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_fan_changelist"


def _found(client, **params) -> set[int]:
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return {fan.pk for fan in response.context["cl"].result_list}


@pytest.fixture
def phone_fan(personas):
    return create_fan(personas.talent, "+14155552671", first_name="Paula", last_name="Quinn", email="paula@example.com")


@pytest.mark.parametrize(
    "typed", ["4155552671", "(415) 555-2671", "+14155552671", "+1 415-555-2671", "415.555.2671", "1 415 555 2671"]
)
def test_phone_search_in_any_format(client, personas, phone_fan, typed):
    client.force_login(personas.manager)
    assert _found(client, q=typed) == {phone_fan.pk}


def test_phone_search_stays_in_the_current_talent(client, personas, phone_fan):
    theirs = create_fan(personas.other_talent, "+14155552671")
    client.force_login(personas.other_manager)
    assert _found(client, q="(415) 555-2671") == {theirs.pk}


def test_search_by_name_and_email_prefix(client, personas, phone_fan):
    client.force_login(personas.manager)
    assert _found(client, q="paula") == {phone_fan.pk}
    assert _found(client, q="QUI") == {phone_fan.pk}
    assert _found(client, q="paula@example.com") == {phone_fan.pk}
    assert _found(client, q="nobody-by-that-name") == set()


def test_filters_by_list_tag_country_region_join_date_status_and_engagement(client, personas, phone_fan):
    now = timezone.now()
    toronto = create_fan(personas.talent, "+14165550300", country="CA", region="ON", last_reply_at=now)
    old = create_fan(personas.talent, "+14155550301", joined_at=now - dt.timedelta(days=500), region="CA")
    stopped = create_fan(personas.talent, "+14155550302", status="opted_out")
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    vip.memberships.create(fan=phone_fan)
    tag = Tag.objects.create(talent=personas.talent, name="presale")
    FanTag.objects.create(tag=tag, fan=toronto)
    client.force_login(personas.manager)
    assert _found(client, list=vip.pk) == {phone_fan.pk}
    assert _found(client, tag=tag.pk) == {toronto.pk}
    assert _found(client, country="ca") == {toronto.pk}
    assert _found(client, region="ON") == {toronto.pk}
    assert old.pk in _found(client, joined="older") and old.pk not in _found(client, joined="30")
    assert _found(client, status__exact="opted_out") == {stopped.pk}
    assert _found(client, engagement="replied") == {toronto.pk}
    assert _found(client, list="not-a-number") == set()


def test_filter_choices_are_only_the_current_talents_lists(client, personas):
    ContactList.objects.create(talent=personas.talent, name="Ours")
    ContactList.objects.create(talent=personas.other_talent, name="Theirs")
    client.force_login(personas.manager)
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "Ours" in html and "Theirs" not in html


def test_list_and_tag_pages_link_to_their_members(client, personas):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    vip.memberships.create(fan=personas.fan)
    client.force_login(personas.manager)
    html = client.get(reverse("admin:messaging_contactlist_changelist")).content.decode()
    assert f"{reverse(CHANGELIST)}?list={vip.pk}" in html


# --- adding a fan in the console ----------------------------------------------------------------------------
def _add(client, **data):
    base = {"phone": "(415) 555-0400", "first_name": "Walk", "last_name": "In", "email": "", "consent_note": ""}
    return client.post(reverse("admin:accounts_fan_add"), {**base, **data})


def test_console_add_records_source_and_how_consent_was_obtained(client, personas):
    client.force_login(personas.manager)
    response = _add(client, how="in_person", consent_note="Paper form, Chicago show", confirm="on")
    assert response.status_code == 302
    fan = Fan.objects.get(talent=personas.talent, phone="+14155550400")
    assert (fan.source, fan.status, fan.first_name) == (Fan.Source.ADMIN, Fan.Status.ACTIVE, "Walk")
    record = ConsentRecord.objects.get(fan=fan)
    assert (record.method, record.action, record.purpose) == ("console", "granted", "messaging")
    assert "in_person: Paper form, Chicago show" in record.evidence and "max_manager" in record.evidence
    assert AuditEvent.objects.get(action="fan.added_in_console").actor == personas.manager
    welcome = OutboundMessage.objects.get(to_number="+14155550400")
    assert welcome.lane == OutboundMessage.Lane.COMPLIANCE and "STOP" in welcome.body


def test_console_add_needs_the_confirmation_and_refuses_stop_and_served_countries(client, personas):
    client.force_login(personas.manager)
    response = _add(client, how="in_person")
    assert response.status_code == 200 and "Confirm the fan agreed" in response.content.decode()
    create_fan(personas.talent, "+14155550401", status="opted_out")
    response = _add(client, phone="4155550401", how="written", confirm="on")
    assert "texted STOP" in response.content.decode()
    assert Fan.objects.get(phone="+14155550401", talent=personas.talent).status == "opted_out"
    personas.talent.served_countries = "CA"
    personas.talent.save()
    response = _add(client, phone="+14155550402", how="written", confirm="on")
    assert "does not take fans from that country" in response.content.decode()
    assert not Fan.objects.filter(phone="+14155550402").exists() and not ConsentRecord.objects.exists()


def test_console_signup_link_goes_through_the_signup_limits(client, personas, settings):
    settings.RATELIMIT_SIGNUP_PER_PHONE = (2, 3600)
    client.force_login(personas.manager)
    for _ in range(2):
        assert _add(client, how="send_link").status_code == 302
    links = OutboundMessage.objects.filter(to_number="+14155550400")
    # Stored as a placeholder: the live link is made as the text leaves (tests/security/test_links.py).
    assert links.count() == 2 and all(m.lane == OutboundMessage.Lane.LINK and "{join_link}" in m.body for m in links)
    # They join on the page, with their own consent: until then the number is pending, not a fan.
    assert Fan.objects.get(phone="+14155550400").status == Fan.Status.PENDING
    assert not ConsentRecord.objects.filter(fan__phone="+14155550400").exists()
    response = _add(client, how="send_link")
    assert response.status_code == 200 and "several signup texts" in response.content.decode()
    assert links.count() == 2


def test_agents_cannot_add_fans(client, personas):
    client.force_login(personas.agent)
    assert _add(client, how="in_person", confirm="on").status_code == 403


# --- the profile --------------------------------------------------------------------------------------------
def test_profile_shows_consents_lists_tags_and_conversation_link(client, personas):
    fan = personas.fan
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    vip.memberships.create(fan=fan)
    ConsentRecord.objects.create(
        fan=fan, talent=personas.talent, purpose="messaging", action="granted", method="web_form", evidence="signup"
    )
    client.force_login(personas.manager)
    response = client.get(reverse("admin:accounts_fan_change", args=[fan.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Consents" in html and "Signup form" in html and "VIP" in html
    assert f"fan__id__exact={fan.pk}" in html and "Open conversation" in html
    assert client.get(reverse("admin:accounts_fan_change", args=[personas.other_fan.pk])).status_code == 404


def test_profile_add_to_list_and_tag(client, personas):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    theirs = ContactList.objects.create(talent=personas.other_talent, name="Theirs")
    client.force_login(personas.manager)
    action = lambda name: reverse("admin:accounts_fan_action", args=[personas.fan.pk, name])  # noqa: E731
    assert client.post(action("list"), {"list-contact_list": vip.pk}).status_code == 302
    assert client.post(action("list"), {"list-contact_list": theirs.pk}).status_code == 302
    assert list(ContactList.objects.filter(memberships__fan=personas.fan)) == [vip]
    client.post(action("tag"), {"tag-tag": "vip"})
    assert FanTag.objects.filter(fan=personas.fan, tag__name="vip").exists()
    client.force_login(personas.agent)
    assert client.post(action("tag"), {"tag-tag": "x"}).status_code == 403


def test_profile_export_and_erase_are_audited_with_the_reason(client, personas):
    fan = personas.fan
    client.force_login(personas.manager)
    export_url = reverse("admin:accounts_fan_action", args=[fan.pk, "export"])
    assert client.post(export_url, {"export-requested_via": "email"}).status_code == 302  # no reason: refused
    assert not AuditEvent.objects.filter(action="fan.data_exported").exists()
    response = client.post(export_url, {"export-requested_via": "email", "export-reason": "email of 3 March"})
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["profile"]["first_name"] == "Fiona"
    event = AuditEvent.objects.get(action="fan.data_exported")
    assert event.details["reason"] == "email of 3 March" and event.actor == personas.manager

    erase_url = reverse("admin:accounts_fan_action", args=[fan.pk, "erase"])
    client.post(erase_url, {"erase-requested_via": "phone", "erase-reason": "call"})  # not confirmed
    fan.refresh_from_db()
    assert fan.status == Fan.Status.ACTIVE
    client.post(erase_url, {"erase-requested_via": "phone", "erase-reason": "call on 4 March", "erase-confirm": "on"})
    fan.refresh_from_db()
    assert fan.status == Fan.Status.ERASED and fan.phone is None
    event = AuditEvent.objects.get(action="fan.erased")
    assert event.details["reason"] == "fan request by phone: call on 4 March" and event.actor == personas.manager


@pytest.mark.postgres_only
def test_name_and_email_search_is_served_by_the_search_indexes(personas, phone_fan):
    from django.db import connection, transaction
    from django.db.models import Q

    Fan.objects.bulk_create(
        Fan(talent=personas.talent, phone=f"+1212555{i:04d}", first_name=f"N{i}", last_name=f"S{i}", email=f"{i}@x.io")
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_fan")
    qs = Fan.objects.filter(talent_id__in=[personas.talent.pk]).filter(
        Q(first_name__istartswith="pau") | Q(last_name__istartswith="pau") | Q(email__istartswith="pau")
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # A test table is small, so the planner might walk it: forbid the scans the indexes replace.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = qs.order_by("-pk")[:50].explain()
    assert all(name in plan for name in ("fan_search_first_name", "fan_search_last_name", "fan_search_email")), plan
