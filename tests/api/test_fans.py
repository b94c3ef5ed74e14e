"""v1 fans: list with filters and cursor pages, retrieve, create with evidence, profile, opt out, erase."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Fan
from consent.models import ConsentRecord
from messaging.models import ContactList, ContactListMember
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

EVIDENCE = {"source": "store checkout, SMS box ticked", "collected_at": "2026-11-30T12:00:00Z"}


def test_list_is_paged_by_cursor_and_scoped_to_the_token_talent(personas, api):
    for i in range(5):
        create_fan(personas.talent, f"+1415555030{i}")
    first = api.get("/api/v1/fans/?page_size=3")
    assert first.status_code == 200, first.content
    body = first.json()
    assert len(body["results"]) == 3 and body["next"]
    ids = [f["id"] for f in body["results"]]
    second = api.get(body["next"]).json()
    ids += [f["id"] for f in second["results"]]
    assert len(ids) == len(set(ids)) == 6  # 5 + personas.fan
    assert personas.other_fan.pk not in ids
    assert first["RateLimit-Limit"] and first["RateLimit-Remaining"]


def test_list_filters(personas, api):
    gone = create_fan(personas.talent, "+14155550311", status=Fan.Status.OPTED_OUT)
    vip = ContactList.objects.create(talent=personas.talent, name="vip")
    ContactListMember.objects.create(contact_list=vip, fan=personas.fan)
    assert [f["id"] for f in api.get("/api/v1/fans/?status=opted_out").json()["results"]] == [gone.pk]
    assert [f["id"] for f in api.get(f"/api/v1/fans/?list={vip.pk}").json()["results"]] == [personas.fan.pk]
    by_phone = api.get("/api/v1/fans/", {"phone": "+14155550311"}).json()["results"]
    assert [f["id"] for f in by_phone] == [gone.pk]
    bad = api.get("/api/v1/fans/?status=nonsense")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid" and "status" in bad.json()["errors"]


def test_create_records_consent_with_the_evidence(personas, api, terms):
    response = api.post(
        "/api/v1/fans/",
        {"phone": "+14155550399", "first_name": "Ivy", "consent": {**EVIDENCE, "shares_with_partners": False}},
        format="json",
    )
    assert response.status_code == 201, response.content
    fan = Fan.objects.get(pk=response.json()["id"])
    assert fan.talent == personas.talent and fan.status == Fan.Status.ACTIVE and fan.source == Fan.Source.IMPORT
    records = ConsentRecord.objects.filter(fan=fan)
    messaging = records.get(purpose=ConsentRecord.Purpose.MESSAGING)
    assert messaging.action == ConsentRecord.Action.GRANTED
    assert "store checkout" in messaging.evidence and messaging.terms == terms[0]
    assert records.get(purpose=ConsentRecord.Purpose.PARTNER_SHARING).action == ConsentRecord.Action.DECLINED


def test_create_needs_evidence_and_published_terms(personas, api):
    missing = api.post("/api/v1/fans/", {"phone": "+14155550398"}, format="json")
    assert missing.status_code == 400 and "consent" in missing.json()["errors"]
    no_terms = api.post("/api/v1/fans/", {"phone": "+14155550398", "consent": EVIDENCE}, format="json")
    assert no_terms.status_code == 409 and no_terms.json()["code"] == "no_published_terms"
    assert not Fan.objects.filter(phone="+14155550398").exists()


def test_create_refuses_an_erased_number(personas, api, terms):
    fan = create_fan(personas.talent, "+14155550397")
    api.post(f"/api/v1/fans/{fan.pk}/erase/", {"reason": "asked by email"}, format="json")
    again = api.post("/api/v1/fans/", {"phone": "+14155550397", "consent": EVIDENCE}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "erased_number"


def test_update_profile_goes_through_the_service(personas, api):
    response = api.patch(f"/api/v1/fans/{personas.fan.pk}/", {"city": "Austin"}, format="json")
    assert response.status_code == 200 and response.json()["city"] == "Austin"
    assert AuditEvent.objects.filter(action="fan.profile_corrected", object_id=str(personas.fan.pk)).exists()
    # Status and consent are not profile fields: ignored, never written.
    api.patch(f"/api/v1/fans/{personas.fan.pk}/", {"status": "erased", "shares_with_partners": True}, format="json")
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.ACTIVE and not personas.fan.shares_with_partners
    assert api.put(f"/api/v1/fans/{personas.fan.pk}/", {"city": "X"}, format="json").status_code == 405


def test_opt_out_writes_a_consent_record(personas, api):
    response = api.post(f"/api/v1/fans/{personas.fan.pk}/opt-out/", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "opted_out"
    assert ConsentRecord.objects.filter(
        fan=personas.fan, purpose="messaging", action=ConsentRecord.Action.WITHDRAWN
    ).exists()


def test_erase_needs_a_reason_and_the_erase_scope(personas, api, make_token):
    assert api.post(f"/api/v1/fans/{personas.fan.pk}/erase/", {}, format="json").status_code == 400
    _, _, writer = make_token(["fans:read", "fans:write"])
    denied = writer.post(f"/api/v1/fans/{personas.fan.pk}/erase/", {"reason": "x"}, format="json")
    assert denied.status_code == 403 and denied.json()["code"] == "missing_scope"
    done = api.post(f"/api/v1/fans/{personas.fan.pk}/erase/", {"reason": "ticket 4411"}, format="json")
    assert done.status_code == 200 and done.json()["phone"] is None and done.json()["status"] == "erased"
    event = AuditEvent.objects.get(action="fan.erased", object_id=str(personas.fan.pk))
    assert event.details["reason"] == "ticket 4411" and event.actor == personas.owner


def test_erasure_deletes_the_stored_answer_of_an_idempotent_create(personas, api, terms):
    from accounts.integration_models import IdempotencyKey

    body = {"phone": "+14155550377", "first_name": "Ivy", "consent": EVIDENCE}
    created = api.post("/api/v1/fans/", body, format="json", HTTP_IDEMPOTENCY_KEY="fan-1")
    assert IdempotencyKey.objects.get(key="fan-1").fan_id == created.json()["id"]
    api.post(f"/api/v1/fans/{created.json()['id']}/erase/", {"reason": "asked"}, format="json")
    assert not IdempotencyKey.objects.filter(key="fan-1").exists()
    again = api.post("/api/v1/fans/", body, format="json", HTTP_IDEMPOTENCY_KEY="fan-1")
    assert again.status_code == 409 and "Ivy" not in again.content.decode()


def test_the_list_builder_renders_exactly_what_the_serializer_did(personas, api):
    """The list's fast path (serializers.fan_values + fan_dicts) against FanSerializer, byte for byte,
    for fans in every state: full profile, pending, opted out, erased, odd text."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone
    from rest_framework.renderers import JSONRenderer

    from consent.services import Evidence, fan_opt_out
    from fancommunity.api_v1.serializers import FanSerializer, fan_dicts, fan_values
    from messaging.privacy.services import fan_erase

    full = create_fan(
        personas.talent, "+14155550401", first_name="Zoë", last_name="O'Brien \"Z\"", email="zoe@example.com",
        birth_date=dt.date(1990, 2, 28), city="Austin", region="TX", postal_code="78701", country="US",
        time_zone="America/Chicago", shares_with_partners=True, joined_at=timezone.now().replace(microsecond=123456),
    )  # fmt: skip
    pending = create_fan(personas.talent, "+14155550402", status=Fan.Status.PENDING, joined_at=None)
    # A time on the second: isoformat writes no ".000000" (PostgreSQL's text must not either).
    Fan.objects.filter(pk=pending.pk).update(created_at=timezone.now().replace(microsecond=0))
    stopped = create_fan(personas.talent, "+14155550403")
    fan_opt_out(fan=stopped, evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD))
    erased = create_fan(personas.talent, "+14155550404")
    fan_erase(fan=erased, actor=personas.owner, reason="test")
    fans = Fan.objects.filter(pk__in=[full.pk, pending.pk, stopped.pk, erased.pk, personas.fan.pk]).order_by("-id")
    old = JSONRenderer().render(FanSerializer(list(fans), many=True).data)
    new = JSONRenderer().render(fan_dicts(fan_values(fans)))
    assert new == old
    # On PostgreSQL in UTC the times came as text written by the database (UtcIsoText).
    assert ("created_at_text" in fan_values(fans)[0]) == (connection.vendor == "postgresql")
    # Another current zone: the Python path, with DRF's offset rules, still renders the same.
    with timezone.override("America/Chicago"):
        assert JSONRenderer().render(fan_dicts(fan_values(fans))) == JSONRenderer().render(
            FanSerializer(list(fans), many=True).data
        )
    assert Fan.objects.get(pk=erased.pk).phone is None or not Fan.objects.get(pk=erased.pk).phone
    # And through the API: the list's page is the serializer's rendering of the same fans.
    listed = api.get("/api/v1/fans/?page_size=1000").json()["results"]
    every = Fan.objects.filter(talent=personas.talent).order_by("-id")
    assert listed == FanSerializer(list(every), many=True).data
