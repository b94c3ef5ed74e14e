"""/me/: the fan's own data page opened by a signed one-time link (MYDATA or the done page)."""

from __future__ import annotations

import json
import time

import pytest

from accounts.models import AuditEvent, Fan
from accounts.tokens import self_service_tokens
from consent.models import ConsentRecord
from consent.services import phone_hash, phone_is_erased
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import (
    ASK_EVERYTHING,
    committing,
    link_in,
    open_data_link,
    publish_documents,
    signup_data,
    text_in,
)
from tests.factories import create_fan

pytestmark = pytest.mark.django_db
PHONE = "+14155552671"


@pytest.fixture
def member(client, personas, sms_outbox):
    """A fan who joined by text and the form (asking the whole profile), and exchanged a few texts."""
    personas.talent.signup_fields = ASK_EVERYTHING
    personas.talent.save()
    terms, privacy = publish_documents(personas.talent)
    text_in(client, personas.talent, "hi", PHONE)
    committing(client.post, link_in(sms_outbox[0].body), signup_data(terms, privacy, consent_sharing="on"))
    text_in(client, personas.talent, "Can't wait for the tour!", PHONE)
    sms_outbox.clear()
    return Fan.objects.get(talent=personas.talent, phone=PHONE)


def _open(client, fan):
    return open_data_link(client, "/me/?t=" + self_service_tokens.make_token(fan=fan))


def test_mydata_keyword_texts_a_link_that_opens_everything(client, personas, member, sms_outbox):
    text_in(client, personas.talent, "mydata", PHONE)
    assert len(sms_outbox) == 1
    link = link_in(sms_outbox[0].body)
    assert link.startswith("/me/?t=")
    page = open_data_link(client, link).content.decode()
    for shown in [
        "Rosa",
        "Diaz",
        "rosa@example.com",
        "Oakland",
        "94607",
        "Number: <strong>+1 415-555-2671</strong>",  # formatted as people write it (issue 15)
        "Can&#x27;t wait for the tour!",
    ]:
        assert shown in page, shown
    assert "Terms of Use v1" in page and "Privacy Policy v1" in page
    assert "You&#x27;re in!" in page  # the confirmation text we sent, both directions shown


def test_the_link_works_once(client, personas, member):
    token = self_service_tokens.make_token(fan=member)
    # A link preview (or the fan's first look) fetches it: nothing is used up yet.
    assert client.get("/me/?t=" + token).status_code == 200
    assert client.get("/me/?t=" + token).status_code == 200
    assert client.get("/me/").status_code == 403
    assert client.post("/me/", {"t": token}).status_code == 302
    client.cookies.clear()
    assert client.get("/me/?t=" + token).status_code == 400
    assert client.post("/me/", {"t": token}).status_code == 400
    assert client.get("/me/").status_code == 403


def test_expired_and_tampered_links_are_refused(client, personas, member):
    old = self_service_tokens.make_token(fan=member, timestamp=int(time.time()) - 3 * 24 * 3600)
    other = create_fan(personas.talent, "+14155552672")
    theirs = self_service_tokens.make_token(fan=other)
    forged = old[:18] + theirs[18:]  # the old link's salt and subject, a fresh link's tag
    for bad in [old, forged, "nonsense", ""]:
        assert client.get("/me/?t=" + bad).status_code == 400, bad
        assert client.post("/me/", {"t": bad}).status_code == 400, bad
    assert client.post("/me/", {}).status_code == 400
    assert client.get("/me/").status_code == 403


def test_without_a_session_every_action_is_refused(client, member):
    assert client.get("/me/export.json").status_code == 403
    assert client.post("/me/delete/", {"confirm": "yes"}).status_code == 403
    assert client.post("/me/consent/", {"purpose": "messaging", "action": "withdraw"}).status_code == 403
    member.refresh_from_db()
    assert member.status == "active"


def test_the_session_expires(client, member, settings):
    settings.SELF_SERVICE_SESSION_AGE = 60
    _open(client, member)
    session = client.session
    session["me_until"] = time.time() - 1
    session.save()
    assert client.get("/me/").status_code == 403


def test_download_as_json(client, member):
    _open(client, member)
    response = client.get("/me/export.json")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["profile"]["phone"] == PHONE and data["profile"]["first_name"] == "Rosa"
    assert data["profile"]["birth_date"] == "1999-04-02"
    assert data["status"] == "active" and data["shares_with_partners"] is True
    purposes = {(c["purpose"], c["action"]) for c in data["consents"]}
    assert ("messaging", "granted") in purposes and ("partner_sharing", "granted") in purposes
    assert all(c["terms"]["version"] == 1 for c in data["consents"] if c["method"] == "web_form")
    directions = {m["direction"] for m in data["messages"]}
    assert directions == {"from_you", "to_you"}
    assert any(m["body"] == "Can't wait for the tour!" for m in data["messages"])


def test_correct_the_profile(client, member):
    _open(client, member)
    form = signup_data(*publish_documents(None, version=1), city="Berkeley", time_zone="America/Chicago")
    response = client.post("/me/profile/", form)
    assert response.status_code == 200 and b"Saved your changes" in response.content
    member.refresh_from_db()
    assert member.city == "Berkeley" and member.time_zone == "America/Chicago"
    event = AuditEvent.objects.get(action="fan.profile_corrected")
    assert set(event.details["fields"]) == {"city", "time_zone"}
    assert "Berkeley" not in json.dumps(event.details)
    bad = client.post("/me/profile/", {**form, "birth_date": "2999-01-01", "first_name": "x" * 200})
    assert bad.status_code == 400
    member.refresh_from_db()
    assert member.first_name == "Rosa"


def test_withdraw_messaging_consent(client, member, sms_outbox):
    _open(client, member)
    response = committing(client.post, "/me/consent/", {"purpose": "messaging", "action": "withdraw"})
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.status == "opted_out"
    record = ConsentRecord.objects.filter(fan=member).order_by("-created_at", "-pk").first()
    assert (record.purpose, record.action, record.method) == ("messaging", "withdrawn", "self_service")
    assert len(sms_outbox) == 1 and "no more messages" in sms_outbox[0].body


def test_withdraw_and_grant_partner_sharing(client, member):
    _open(client, member)
    client.post("/me/consent/", {"purpose": "partner_sharing", "action": "withdraw"})
    member.refresh_from_db()
    assert not member.shares_with_partners
    assert ConsentRecord.objects.filter(fan=member, purpose="partner_sharing", action="withdrawn").count() == 1
    client.post("/me/consent/", {"purpose": "partner_sharing", "action": "grant"})
    member.refresh_from_db()
    assert member.shares_with_partners
    assert client.post("/me/consent/", {"purpose": "everything", "action": "withdraw"}).status_code == 400


def test_delete_the_account(client, personas, member, sms_outbox):
    _open(client, member)
    refused = client.post("/me/delete/", {})
    assert refused.status_code == 400
    member.refresh_from_db()
    assert member.status == "active"

    response = client.post("/me/delete/", {"confirm": "yes"})
    assert response.status_code == 200 and b"deleted" in response.content
    fan = Fan.objects.get(pk=member.pk)
    assert fan.status == Fan.Status.ERASED
    assert fan.phone is None
    for name in ["first_name", "last_name", "email", "city", "region", "postal_code", "country", "time_zone"]:
        assert getattr(fan, name) == "", name
    assert fan.birth_date is None and not fan.shares_with_partners
    assert fan.phone_hash == phone_hash(talent=personas.talent, e164=PHONE)
    assert phone_is_erased(talent=personas.talent, e164=PHONE)
    assert not phone_is_erased(talent=personas.other_talent, e164=PHONE)
    assert all(m.body == "" and m.from_number == "" and m.payload == {} for m in InboundMessage.objects.filter(fan=fan))
    assert all(m.body == "" and m.to_number == "" for m in OutboundMessage.objects.filter(fan=fan))
    assert ConsentRecord.objects.filter(fan=fan, ip_address__isnull=False).count() == 0
    assert ConsentRecord.objects.filter(fan=fan).exclude(user_agent="").count() == 0
    event = AuditEvent.objects.get(action="fan.erased")
    assert event.object_id == str(fan.pk)
    assert PHONE not in json.dumps(event.details) and "Rosa" not in json.dumps(event.details)
    # The session is gone, and no trace of the number remains in the fan table.
    assert client.get("/me/").status_code == 403
    assert not Fan.objects.filter(phone=PHONE).exists()


def test_after_erasure_the_same_person_can_join_again_as_a_new_fan(client, personas, member, sms_outbox):
    _open(client, member)
    client.post("/me/delete/", {"confirm": "yes"})
    text_in(client, personas.talent, "hi again", PHONE)
    assert Fan.objects.filter(talent=personas.talent, phone=PHONE, status="pending").count() == 1
    assert len(sms_outbox) == 1 and "/join/" in sms_outbox[0].body


def test_self_service_is_rate_limited_per_ip(client, member, settings):
    settings.RATELIMIT_SELF_SERVICE_PER_IP = (2, 600)
    client.get("/me/?t=bad1")
    client.get("/me/?t=bad2")
    assert client.get("/me/?t=" + self_service_tokens.make_token(fan=member)).status_code == 429


def test_two_racing_posts_of_one_link_open_one_session(client, personas, member, monkeypatch):
    """Both requests pass check_token before either rotates the nonce: the second one to take
    the row lock finds the nonce changed and is refused."""
    from accounts import views

    token = self_service_tokens.make_token(fan=member)
    real_check = self_service_tokens.check_token

    def check_then_lose_the_race(value):
        fan = real_check(value)  # checked against the nonce as it was
        other = Fan.objects.get(pk=fan.pk)
        other.rotate_link_nonce()  # ... and the other tap commits its rotation meanwhile
        other.save(update_fields=["link_nonce"])
        return fan

    monkeypatch.setattr(views.self_service_tokens, "check_token", check_then_lose_the_race)
    assert client.post("/me/", {"t": token}).status_code == 400
    assert client.get("/me/").status_code == 403
