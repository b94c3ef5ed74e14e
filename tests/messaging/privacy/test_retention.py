"""Keep less (issue 15, section 3): the retention policy per talent, its daily task, the expiring
signups and sessions, and the public privacy page that states it all."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import AuditEvent, PendingSignup, TeamMember
from consent.models import ConsentRecord, Partner
from messaging.models import ImportBatch, InboundMessage, OutboundMessage
from messaging.privacy.retention import retention_apply
from tests.accounts.join_support import publish_documents
from tests.factories import create_fan, create_talent

pytestmark = pytest.mark.django_db
_sid = itertools.count(1)


def _inbound(talent, fan, days_ago: int, body="see you at the show", media=False):
    payload = {"From": str(fan.phone), "Body": body, "NumMedia": "1" if media else "0"}
    if media:
        payload |= {"MediaUrl0": "https://api.twilio.com/media/ME1", "MediaContentType0": "image/jpeg"}
    message = InboundMessage.objects.create(
        talent=talent,
        fan=fan,
        message_sid=f"SM{next(_sid):032d}",
        from_number=str(fan.phone),
        to_number=str(talent.sender_number),
        body=body,
        payload=payload,
        processed_at=timezone.now(),
        action="inbox",
    )
    InboundMessage.objects.filter(pk=message.pk).update(received_at=timezone.now() - dt.timedelta(days=days_ago))
    return message


def _outbound(talent, fan, days_ago: int, status="delivered"):
    message = OutboundMessage.objects.create(
        talent=talent, fan=fan, kind="reply", to_number=str(fan.phone), body="Thanks Fiona!", status=status
    )
    OutboundMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
    return message


def test_the_stated_defaults():
    talent = create_talent()
    assert (talent.keep_message_bodies_days, talent.keep_inbound_media_days, talent.keep_import_reports_days) == (
        180,
        30,
        7,
    )


def test_old_words_go_counts_statuses_and_consent_stay(personas):
    talent, fan = personas.talent, personas.fan
    old_in, new_in = _inbound(talent, fan, 181), _inbound(talent, fan, 179)
    old_out, new_out = _outbound(talent, fan, 181), _outbound(talent, fan, 10)
    unsettled = _outbound(talent, fan, 200, status="uncertain")  # to be reconciled by its words
    ConsentRecord.objects.create(fan=fan, talent=talent, purpose="messaging", action="granted", method="web_form")
    report = retention_apply()
    assert (report.inbound_wiped, report.outbound_wiped) == (1, 1)
    old_in.refresh_from_db(), new_in.refresh_from_db(), old_out.refresh_from_db(), new_out.refresh_from_db()
    assert (old_in.body, old_in.from_number, old_in.payload) == ("", "", {})
    assert old_in.fan_id == fan.pk and old_in.action == "inbox"  # the row and its figures stay
    assert (old_out.body, old_out.to_number, old_out.status) == ("", "", "delivered")
    assert new_in.body and new_out.body
    assert OutboundMessage.objects.get(pk=unsettled.pk).body == "Thanks Fiona!"
    assert ConsentRecord.objects.filter(fan=fan).count() == 1  # consent records are kept
    assert AuditEvent.objects.filter(action="privacy.retention_applied", talent=talent).exists()
    # Idempotent: a second run (a redelivered task) changes nothing.
    again = retention_apply()
    assert (again.inbound_wiped, again.outbound_wiped, again.media_wiped) == (0, 0, 0)


def test_pictures_go_after_30_days_while_the_words_stay(personas):
    old = _inbound(personas.talent, personas.fan, 31, media=True)
    recent = _inbound(personas.talent, personas.fan, 29, media=True)
    assert retention_apply().media_wiped == 1
    old.refresh_from_db(), recent.refresh_from_db()
    assert "MediaUrl0" not in old.payload and "MediaContentType0" not in old.payload and old.payload["NumMedia"] == "0"
    assert old.body == "see you at the show"  # 31 days < 180: the words stay
    assert recent.payload["MediaUrl0"]


def test_import_reports_go_after_7_days(personas):
    batch = ImportBatch.objects.create(
        talent=personas.talent, consent_source="paper", consent_date=dt.date(2026, 1, 1), error_report="line 3: +1415"
    )
    ImportBatch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
    assert retention_apply().import_reports_wiped == 1
    batch.refresh_from_db()
    assert batch.error_report == "" and batch.total_rows == 0


def test_each_talent_has_its_own_policy(personas):
    keeper = create_talent(keep_message_bodies_days=365)
    keeper_fan = create_fan(keeper)
    mine, theirs = _inbound(personas.talent, personas.fan, 200), _inbound(keeper, keeper_fan, 200)
    retention_apply()
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.body == "" and theirs.body == "see you at the show"


def test_the_daily_task_also_clears_sessions_and_expired_signups(personas):
    from messaging.tasks import apply_retention

    old = SessionStore()
    old["x"] = 1
    old.set_expiry(1)
    old.create()
    Session.objects.filter(session_key=old.session_key).update(expire_date=timezone.now() - dt.timedelta(days=1))
    live = SessionStore()
    live.create()
    PendingSignup.objects.create(
        talent=personas.talent,
        phone="+14155552671",
        data={},
        terms_id=1,
        privacy_id=1,
        digest="d",
        nonce="n",
        session_secret="s",
        expires_at=timezone.now() - dt.timedelta(minutes=1),
    )
    result = apply_retention()
    assert result["sessions_cleared"] == 1 and result["signups_expired"] == 1
    assert Session.objects.filter(session_key=live.session_key).exists()
    assert not PendingSignup.objects.exists()


def test_the_schedules_exist_daily_and_every_ten_minutes():
    from django_q.models import Schedule

    from messaging.tasks import EXPIRE_SIGNUPS_FUNC, RETENTION_FUNC, ensure_periodic_schedules

    ensure_periodic_schedules()
    ensure_periodic_schedules()  # idempotent
    assert Schedule.objects.get(func=RETENTION_FUNC).minutes == 24 * 60
    assert Schedule.objects.get(func=EXPIRE_SIGNUPS_FUNC).minutes == 10
    assert Schedule.objects.filter(func=RETENTION_FUNC).count() == 1


# --- The public privacy page ------------------------------------------------------------------


def test_the_privacy_page_states_fields_retention_team_and_partners(client, personas):
    publish_documents(personas.talent)
    talent = personas.talent
    talent.keep_message_bodies_days = 90
    talent.save()
    Partner.objects.create(talent=talent, name="Tourly Tickets", purpose="Presale codes for shows near you")
    Partner.objects.create(talent=talent, name="Old Partner", purpose="x", is_active=False)
    Partner.objects.create(talent=personas.other_talent, name="Rival Merch", purpose="merch")
    page = client.get(f"/privacy/{talent.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    for shown in ("First name", "So texts can greet you by name.", "Birth date", "Postal code", "Mobile number"):
        assert shown in html, shown
    assert "Email" not in html  # not asked by default, so not collected
    assert "90 days" in html and "30 days" in html and "7 days" in html
    assert "Owners</strong> (1)" in html and "Agents</strong> (1)" in html and "can export" in html
    assert "Tourly Tickets" in html and "Presale codes" in html
    assert "Old Partner" not in html and "Rival Merch" not in html
    assert "Only if you tick the optional sharing box" in html
    assert client.get("/privacy/nobody/").status_code == 404
    # The signup page names the partners next to the sharing box and links the page.
    join = client.get(f"/join/{talent.slug}/").content.decode()
    assert "Tourly Tickets" in join and f"/privacy/{talent.slug}/" in join


def test_a_talent_without_partners_says_nothing_is_shared(client, personas):
    TeamMember.objects.filter(talent=personas.talent).delete()
    html = client.get(f"/privacy/{personas.talent.slug}/").content.decode()
    assert "names no partners: nothing is shared" in html
