"""Drops (issue 14 §3): joined by keyword, an instant confirmation, one release through the campaign
engine, "you made it" after it, capacity and waitlist, one code per (drop, fan)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AuditEvent, Fan
from messaging.automations.drop_models import Drop, DropCode, DropEntry
from messaging.automations.drops import (
    drop_codes_export,
    drop_codes_upload,
    drop_join,
    drop_made_it_if_missed,
    drop_save,
    drop_set_paused,
)
from messaging.automations.keyword_models import Keyword
from messaging.automations.keywords import keyword_index
from messaging.models import Campaign, ExportAudit, InboundMessage, OutboundMessage
from messaging.privacy.services import fan_erase
from messaging.sending import dispatch, worker
from tests.accounts.join_support import committing, text_in
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """18:00 UTC: daytime for the US fans (no quiet hours in the way); tests move it on."""
    now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)
    ticking = Clock(now)
    monkeypatch.setattr(timezone, "now", ticking)
    return ticking


def _drop(personas, **fields) -> Drop:
    values = {
        "talent": personas.talent,
        "name": "Presale",
        "confirmation": "You're in for the presale. Code: {code}",
        "release_text": "The presale is open now: nova.example.com/presale",
        "release_at": timezone.now() + dt.timedelta(minutes=10),
        "made_it": "You made it! The presale is open: nova.example.com/presale {code}",
        "full_text": "The presale is full; you are on the waitlist.",
        "fallback_text": "You're in. The codes have all gone, but the presale link works for you.",
    }
    values.update(fields)
    return drop_save(drop=Drop(**values), actor=personas.manager)


@pytest.fixture
def presale(personas, clock, backend):
    drop = _drop(personas, confirmation="You're in for the presale.", made_it="You made it! nova.example.com/presale")
    Keyword.objects.create(talent=personas.talent, word="presale", drop=drop)
    return drop


def _bodies(outbox, to):
    return [m.body for m in outbox if m.to == str(to)]


def _release(clock, drop: Drop) -> None:
    clock.now = drop.release_at + dt.timedelta(minutes=1)
    dispatch.campaign_dispatch()
    worker.campaign_send_batches(campaign_id=drop.campaign_id, budget_seconds=10)


def test_a_drop_owns_a_scheduled_release_campaign_to_its_entrants(personas, presale):
    campaign = presale.campaign
    assert campaign.status == Campaign.Status.SCHEDULED and campaign.send_at == presale.release_at
    assert list(campaign.include_lists.all()) == [presale.entrants_list]
    assert campaign.body == presale.release_text


def test_joining_confirms_at_once_and_the_release_goes_out_once_through_the_engine(
    client, personas, presale, sms_outbox, backend, clock
):
    bystander = create_fan(personas.talent, "+14155550150")
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)
    assert _bodies(sms_outbox, personas.fan.phone) == ["You're in for the presale."]
    assert InboundMessage.objects.get().action == InboundMessage.Action.KEYWORD
    _release(clock, presale)
    row = OutboundMessage.objects.get(campaign=presale.campaign, fan=personas.fan)
    assert row.kind == OutboundMessage.Kind.CAMPAIGN and row.status == OutboundMessage.Status.QUEUED
    assert [m.to for m in backend.sent] == [str(personas.fan.phone)]  # entrants only, not the bystander
    assert presale.release_text in backend.sent[0].body
    assert not OutboundMessage.objects.filter(campaign=presale.campaign, fan=bystander).exists()
    worker.campaign_send_batches(campaign_id=presale.campaign_id, budget_seconds=5)
    assert len(backend.sent) == 1  # one row per recipient: never twice


def test_a_fan_who_joins_after_the_release_gets_you_made_it_once(client, personas, presale, sms_outbox, clock):
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)
    _release(clock, presale)
    late = create_fan(personas.talent, "+14155550151")
    text_in(client, personas.talent, "presale", late.phone)
    assert _bodies(sms_outbox, late.phone) == ["You made it! nova.example.com/presale"]
    assert not OutboundMessage.objects.filter(campaign=presale.campaign, fan=late).exists()
    assert DropEntry.objects.get(fan=late).made_it_at is not None
    clock.now += dt.timedelta(days=1)
    text_in(client, personas.talent, "presale", late.phone)
    assert _bodies(sms_outbox, late.phone) == ["You made it! nova.example.com/presale"]


def test_a_join_the_release_missed_while_committing_gets_you_made_it(personas, presale, sms_outbox, clock):
    # The release's rows were made from the list before this entrant's commit landed in it.
    entry = DropEntry.objects.create(drop=presale, fan=personas.fan, status=DropEntry.Status.ENTERED)
    _release(clock, presale)
    assert committing(drop_made_it_if_missed, entry_id=entry.pk)
    assert not committing(drop_made_it_if_missed, entry_id=entry.pk)  # once
    assert _bodies(sms_outbox, personas.fan.phone) == [presale.made_it]


def test_capacity_then_waitlist(client, personas, presale, sms_outbox, backend, clock):
    presale.capacity, presale.waitlist = 1, True
    presale.save()
    second = create_fan(personas.talent, "+14155550152")
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)
    text_in(client, personas.talent, "PRESALE", second.phone)
    assert _bodies(sms_outbox, second.phone) == [presale.full_text]
    assert DropEntry.objects.get(fan=second).status == DropEntry.Status.WAITLISTED
    presale.refresh_from_db()
    assert (presale.entrants_count, presale.waitlist_count) == (1, 1)
    _release(clock, presale)
    assert [m.to for m in backend.sent] == [str(personas.fan.phone)]


def test_codes_one_per_fan_the_same_on_a_resend_then_the_fallback(client, personas, clock, sms_outbox, backend):
    drop = _drop(personas)
    Keyword.objects.create(talent=personas.talent, word="codes", drop=drop)
    assert drop_codes_upload(drop=drop, data=b"code\nAAA-1\nBBB-2\nAAA-1\n", actor=personas.manager) == {
        "added": 2,
        "duplicates": 1,
    }
    b, c = create_fan(personas.talent, "+14155550153"), create_fan(personas.talent, "+14155550154")
    text_in(client, personas.talent, "CODES", personas.fan.phone)
    clock.now += dt.timedelta(days=1)  # past the once-a-day rule: the confirmation is resent ...
    text_in(client, personas.talent, "CODES", personas.fan.phone)
    text_in(client, personas.talent, "CODES", b.phone)
    text_in(client, personas.talent, "CODES", c.phone)
    # ... with the same code, never a second one.
    assert _bodies(sms_outbox, personas.fan.phone) == ["You're in for the presale. Code: AAA-1"] * 2
    assert _bodies(sms_outbox, b.phone) == ["You're in for the presale. Code: BBB-2"]
    assert _bodies(sms_outbox, c.phone) == [drop.fallback_text]
    assert dict(DropCode.objects.values_list("code", "fan_id")) == {"AAA-1": personas.fan.pk, "BBB-2": b.pk}


def test_the_box_office_export_is_audited_and_needs_the_export_role(personas, clock):
    drop = _drop(personas)
    drop_codes_upload(drop=drop, data=b"=HYPERLINK(1)\n", actor=personas.manager)
    committing(drop_join, drop=drop, fan=personas.fan)
    with pytest.raises(PermissionDenied):
        drop_codes_export(drop=drop, actor=personas.manager)  # managers compose; owners and analysts export
    text = "".join(drop_codes_export(drop=drop, actor=personas.analyst))
    assert text.splitlines()[0] == "code,phone,first_name,last_name,assigned_at"
    assert text.splitlines()[1].startswith("'=HYPERLINK(1),+14155550101,Fiona")  # neutralised for spreadsheets
    record = ExportAudit.objects.get()
    assert record.completed and record.row_count == 1 and record.actor == personas.analyst
    assert AuditEvent.objects.filter(action="automation.drop_codes_exported").exists()


@pytest.mark.parametrize(
    "data, message",
    [(b"\xff\xfe\x00bad", "not a UTF-8 CSV"), (b"code\n\n", "holds no codes"), (b"x" * 65, "at most 64")],
)
def test_a_bad_codes_file_is_refused_with_a_reason(personas, clock, data, message):
    with pytest.raises(ValidationError, match=message):
        drop_codes_upload(drop=_drop(personas), data=data, actor=personas.manager)
    assert not DropCode.objects.exists()


def test_code_in_the_release_is_each_fans_own_filled_as_it_leaves_and_never_stored(
    client, personas, clock, sms_outbox, backend
):
    drop = _drop(personas, release_text="The presale is open. Your code: {code}", confirmation="You're in.")
    Keyword.objects.create(talent=personas.talent, word="codes", drop=drop)
    drop_codes_upload(drop=drop, data=b"AAA-1\n", actor=personas.manager)
    late = create_fan(personas.talent, "+14155550155")
    text_in(client, personas.talent, "CODES", personas.fan.phone)
    text_in(client, personas.talent, "CODES", late.phone)  # the codes have run out for this one
    _release(clock, drop)
    sent = {m.to: m.body for m in backend.sent}
    assert "The presale is open. Your code: AAA-1" in sent[str(personas.fan.phone)]
    assert "Your code:" in sent[str(late.phone)] and "AAA-1" not in sent[str(late.phone)]
    rows = OutboundMessage.objects.filter(campaign=drop.campaign)
    assert rows.count() == 2 and not rows.filter(body__contains="AAA-1").exists()  # the placeholder is kept
    assert rows.filter(body__contains="{code}").count() == 2
    worker.campaign_send_batches(campaign_id=drop.campaign_id, budget_seconds=5)
    assert len(backend.sent) == 2 and DropCode.objects.filter(fan__isnull=False).count() == 1  # no second code


def test_a_paused_drop_takes_no_one_and_holds_its_release(client, personas, presale, sms_outbox, backend, clock):
    drop_set_paused(drop=presale, paused=True, actor=personas.manager)
    assert keyword_index(talent=personas.talent) == {}
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)
    assert sms_outbox == [] and not DropEntry.objects.exists()
    assert InboundMessage.objects.get().action == InboundMessage.Action.INBOX
    presale.campaign.refresh_from_db()
    assert presale.campaign.status == Campaign.Status.PAUSED
    assert drop_join(drop=presale, fan=personas.fan).text == ""
    drop_set_paused(drop=presale, paused=False, actor=personas.manager)
    presale.campaign.refresh_from_db()
    assert presale.campaign.status == Campaign.Status.SCHEDULED


def test_an_opted_out_fan_gets_no_confirmation_and_no_release(client, personas, presale, sms_outbox, backend, clock):
    text_in(client, personas.talent, "PRESALE", personas.fan.phone)
    text_in(client, personas.talent, "STOP", personas.fan.phone)
    sms_outbox.clear()
    gone = Fan.objects.get(pk=personas.fan.pk)
    assert drop_join(drop=presale, fan=gone).text == ""
    _release(clock, presale)
    assert backend.sent == [] and sms_outbox == []


def test_erasure_removes_entries_and_codes(personas, clock):
    drop = _drop(personas)
    drop_codes_upload(drop=drop, data=b"ONE\n", actor=personas.manager)
    committing(drop_join, drop=drop, fan=personas.fan)
    fan_erase(fan=personas.fan)
    assert not DropEntry.objects.exists() and not DropCode.objects.exists()


# --- PostgreSQL: fans racing for codes --------------------------------------------------------------
def _race(drop_id: int, fan_ids: list[int]) -> dict[int, str]:
    barrier = threading.Barrier(len(fan_ids))
    got: dict[int, str] = {}

    def join(fan_id: int) -> None:
        try:
            fan = Fan.objects.select_related("talent").get(pk=fan_id)
            drop = Drop.objects.get(pk=drop_id)
            barrier.wait()
            with transaction.atomic():
                got[fan_id] = drop_join(drop=drop, fan=fan).code
        finally:
            connection.close()

    threads = [threading.Thread(target=join, args=(f,)) for f in fan_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_fans_racing_for_the_last_code_never_share_it(personas, monkeypatch):
    monkeypatch.setattr("messaging.automations.replies._queue", lambda **kw: None)
    drop = _drop(personas)
    drop_codes_upload(drop=drop, data=b"LAST\n", actor=personas.manager)
    fans = [personas.fan.pk, create_fan(personas.talent, "+14155550160").pk]
    got = _race(drop.pk, fans)
    assert sorted(got.values()) == ["", "LAST"]
    assert DropCode.objects.get().fan_id in fans


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_many_fans_racing_get_distinct_codes_and_one_fan_twice_gets_one(personas, monkeypatch):
    monkeypatch.setattr("messaging.automations.replies._queue", lambda **kw: None)
    drop = _drop(personas)
    drop_codes_upload(drop=drop, data="\n".join(f"C{i}" for i in range(6)).encode(), actor=personas.manager)
    fans = [create_fan(personas.talent, f"+1415555{200 + i:04d}").pk for i in range(8)]
    got = _race(drop.pk, fans)
    handed = [c for c in got.values() if c]
    assert len(handed) == 6 and len(set(handed)) == 6
    twice = _race(drop.pk, [fans[0], fans[0], fans[0]])  # the same fan joining three times at once
    assert set(twice.values()) == {got[fans[0]]}
    assert DropCode.objects.filter(fan__isnull=False).count() == 6
