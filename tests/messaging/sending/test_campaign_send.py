"""The send pipeline end to end on the locmem-like backend: materialise, claim, send, record."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Fan
from consent.models import ConsentRecord
from messaging.campaigns.services import campaign_report, campaign_schedule
from messaging.models import Campaign, OutboundMessage, UndeliverableNumber
from messaging.sending import engine as cs
from messaging.sending import worker
from messaging.sms.backends.base import SmsError
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
S = OutboundMessage.Status


@pytest.fixture
def daytime(monkeypatch):
    """Run the pipeline at 18:00 UTC: daytime for US and EU fans (no quiet hours in the way)."""
    now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def _fans(talent, n, **fields):
    return [create_fan(talent, f"+1415666{i:04d}", first_name=f"F{i}", **fields) for i in range(n)]


def test_every_active_fan_gets_exactly_one_message(personas, backend, daytime):
    fans = _fans(personas.talent, 7)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    started = cs.campaign_start(campaign_id=campaign.pk)
    assert started.status == Campaign.Status.SENDING
    report = worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=30)
    sent_to = sorted(m.to for m in backend.sent)
    assert sent_to == sorted(str(f.phone) for f in [personas.fan, *fans])
    assert report.sent == 8
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert OutboundMessage.objects.filter(campaign=campaign, status=S.QUEUED).count() == 8
    # Rendered per fan at claim time.
    row = OutboundMessage.objects.get(campaign=campaign, fan=fans[3])
    assert row.body == "Hi F3! New tour dates out." and row.provider_sid and row.parts == 1
    # Starting or sending again changes nothing: rows are unique per (campaign, fan).
    assert cs.campaign_materialise(campaign=campaign).created == 0
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5)
    assert len(backend.sent) == 8


def test_opted_out_and_erased_fans_are_excluded_and_counted(personas, backend, daytime):
    _fans(personas.talent, 2)
    create_fan(personas.talent, "+14156660900", status=Fan.Status.OPTED_OUT)
    create_fan(personas.talent, "+14156660901", status=Fan.Status.ERASED)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    assert OutboundMessage.objects.filter(campaign=campaign).count() == 3
    campaign.refresh_from_db()
    report = campaign_report(campaign=campaign)
    assert report["suppressed"] == 2 and report["recipients"] == 3


def test_stop_mid_blast_means_nothing_more(personas, backend, daytime):
    fans = _fans(personas.talent, 4)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    first = cs.campaign_claim_batch(campaign_id=campaign.pk, limit=2)
    cs.batch_record(batch=first, outcomes=cs.batch_send(batch=first, backend=backend))
    # A fan not yet claimed texts STOP now.
    late = fans[-1]
    Fan.objects.filter(pk=late.pk).update(status=Fan.Status.OPTED_OUT)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5)
    assert str(late.phone) not in [m.to for m in backend.sent]
    row = OutboundMessage.objects.get(campaign=campaign, fan=late)
    assert row.status == S.SUPPRESSED and row.error_code == "opted_out"


def test_stop_after_the_claim_still_stops_that_fans_text(personas, backend, daytime):
    """The fan was active when the batch was claimed and texted STOP before it left."""
    from consent.services import Evidence, fan_opt_out

    fans = _fans(personas.talent, 3)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    stopper = fans[1]
    assert stopper.pk in {r.fan_id for r in batch.rows}
    fan_opt_out(
        fan=Fan.objects.get(pk=stopper.pk), evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD, evidence="SMx")
    )
    counts = cs.batch_record(batch=batch, outcomes=cs.batch_send(batch=batch, backend=backend))
    assert str(stopper.phone) not in [m.to for m in backend.sent]
    assert len(backend.sent) == 3 and counts["stopped"] == 1
    row = OutboundMessage.objects.get(campaign=campaign, fan=stopper)
    assert row.status == S.SUPPRESSED and row.error_code == "opted_out" and not row.provider_sid


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_stop_while_a_batch_is_on_the_wire_stops_the_rest_of_that_fans_batch(personas, daytime, monkeypatch):
    """Pipeline path: a STOP committed while the batch sends reaches the in-flight batch too."""
    import asyncio
    import threading

    from messaging.sms.backends.base import BaseSmsBackend, SendResult

    fans = _fans(personas.talent, 6)
    late = fans[-1]
    sent: list[str] = []
    stop_committed = threading.Event()

    class SlowBackend(BaseSmsBackend):
        async def send_async(self, message):
            if not sent:  # the first send: commit a STOP from another thread, then go on slowly
                threading.Thread(target=_stop, daemon=True).start()
                await asyncio.to_thread(stop_committed.wait, 5)
                await asyncio.sleep(cs.STOP_RECHECK_SECONDS * 3)
            sent.append(message.to)
            return SendResult(sid=f"SM{len(sent):032d}")

    def _stop():
        from django.db import connection

        Fan.objects.filter(pk=late.pk).update(status=Fan.Status.OPTED_OUT)
        connection.close()
        stop_committed.set()

    from django.test import override_settings

    from messaging import tasks

    # Committed for real here, so inline tasks would send at once: this test drives the sender.
    monkeypatch.setattr(tasks, "enqueue_send", lambda *args, **kwargs: None)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)

    with override_settings(CAMPAIGN_SEND_CONCURRENCY=1):
        worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=20, backend=SlowBackend())
    assert str(late.phone) not in sent
    assert OutboundMessage.objects.get(campaign=campaign, fan=late).status == S.SUPPRESSED


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("listening", [True, False])
def test_a_stop_on_the_wire_is_heard_as_it_commits_not_at_the_next_recheck(
    personas, daytime, monkeypatch, settings, listening
):
    """The pipeline hears a STOP as it commits (NOTIFY fan_gone, accounts/stop_notices.py): with the
    periodic re-check a minute away, the fan's text still does not leave. Without the listener it
    does, which is the window this closes."""
    import asyncio

    from messaging import tasks
    from messaging.sending import pipeline
    from messaging.sms.backends.base import BaseSmsBackend, SendResult

    monkeypatch.setattr(pipeline, "STOP_RECHECK_SECONDS", 60.0)
    settings.STOP_NOTICES = listening
    settings.CAMPAIGN_SEND_CONCURRENCY = 1
    late = _fans(personas.talent, 6)[-1]
    sent: list[str] = []

    def _stop():
        from django.db import connection

        Fan.objects.filter(pk=late.pk).update(status=Fan.Status.OPTED_OUT)
        connection.close()

    class StopsOnTheFirstSend(BaseSmsBackend):
        async def send_async(self, message):
            if not sent:
                await asyncio.to_thread(_stop)
                await asyncio.sleep(0.1)  # room for the notice's delivery
            sent.append(message.to)
            return SendResult(sid=f"SM{len(sent):032d}")

    monkeypatch.setattr(tasks, "enqueue_send", lambda *args, **kwargs: None)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=20, backend=StopsOnTheFirstSend())
    assert len(sent) == (6 if listening else 7)
    assert (str(late.phone) in sent) is not listening
    if listening:
        assert OutboundMessage.objects.get(campaign=campaign, fan=late).status == S.SUPPRESSED


def test_frequency_cap_suppresses_fans_who_had_enough_today(personas, backend, daytime):
    personas.talent.daily_frequency_cap = 1
    personas.talent.save()
    fans = _fans(personas.talent, 2)
    earlier = create_campaign(personas.talent, body="Earlier news")
    campaign_schedule(campaign=earlier, actor=personas.manager)
    cs.campaign_start(campaign_id=earlier.pk)
    worker.campaign_send_batches(campaign_id=earlier.pk, budget_seconds=5)
    # A fan who joined after the first campaign got nothing today and stays eligible.
    newcomer = create_fan(personas.talent, "+14156660999")
    second = create_campaign(personas.talent, body="Second news")
    campaign_schedule(campaign=second, actor=personas.manager)
    cs.campaign_start(campaign_id=second.pk)
    rows = dict(OutboundMessage.objects.filter(campaign=second).values_list("fan_id", "status"))
    assert rows[fans[0].pk] == S.SUPPRESSED and rows[personas.fan.pk] == S.SUPPRESSED
    assert rows[newcomer.pk] == S.PENDING
    second.refresh_from_db()
    assert campaign_report(campaign=second)["suppressed"] == 3


def test_error_codes(personas, backend, daytime):
    fans = _fans(personas.talent, 5)
    backend.fail(str(fans[0].phone), SmsError("stopped", code="21610", status=400, permanent=True))
    backend.fail(str(fans[1].phone), SmsError("landline", code="30006", status=400, permanent=True))
    backend.fail(str(fans[2].phone), SmsError("slow down", code="20429", status=429))
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10)
    rows = {r.fan_id: r for r in OutboundMessage.objects.filter(campaign=campaign)}
    # 21610: the fan is opted out with carrier evidence, in one transaction.
    assert rows[fans[0].pk].status == S.FAILED and rows[fans[0].pk].error_code == "21610"
    fans[0].refresh_from_db()
    assert fans[0].status == Fan.Status.OPTED_OUT
    assert ConsentRecord.objects.filter(fan=fans[0], action="withdrawn", method="carrier").count() == 1
    # 30006: failed with its reason, and the number is left out of later campaigns.
    assert rows[fans[1].pk].error_code == "30006"
    assert UndeliverableNumber.objects.filter(phone=str(fans[1].phone)).exists()
    # 20429: retried after a backoff within the batch, then sent once.
    assert rows[fans[2].pk].status == S.QUEUED
    assert [m.to for m in backend.sent].count(str(fans[2].phone)) == 1
    later = create_campaign(personas.talent, body="Later")
    personas.talent.daily_frequency_cap = 0
    personas.talent.save()
    campaign_schedule(campaign=later, actor=personas.manager)
    cs.campaign_start(campaign_id=later.pk)
    assert OutboundMessage.objects.get(campaign=later, fan=fans[1]).status == S.SUPPRESSED
    assert not OutboundMessage.objects.filter(campaign=later, fan=fans[0]).exists()


def test_throttling_that_persists_puts_the_row_back_with_backoff(personas, backend, daytime):
    fan = _fans(personas.talent, 1)[0]
    busy = SmsError("busy", code="", status=503)
    backend.fail(str(fan.phone), busy, busy, busy)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10)
    row = OutboundMessage.objects.get(campaign=campaign, fan=fan)
    assert row.status == S.PENDING and row.not_before > daytime and row.attempts == 1
    assert str(fan.phone) not in [m.to for m in backend.sent]


def test_carrier_filtering_pauses_the_campaign_and_tells_the_team(personas, backend, daytime):
    fans = _fans(personas.talent, 3)
    backend.fail(str(fans[0].phone), SmsError("filtered", code="30007", status=400, permanent=True))
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk, limit=1)
    assert [r.to for r in batch.rows] == [str(personas.fan.phone)] or batch.rows
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "30007" in campaign.paused_reason
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action="campaign.paused_carrier_filtering", object_id=str(campaign.pk)).exists()


def test_uncertain_send_is_reconciled_not_resent(personas, backend, daytime, settings):
    fan = _fans(personas.talent, 1)[0]
    backend.accepted_but_timed_out.add(str(fan.phone))
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5)
    row = OutboundMessage.objects.get(campaign=campaign, fan=fan)
    assert row.status == S.UNCERTAIN and not row.provider_sid
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING  # not complete while a row is uncertain
    later = daytime + dt.timedelta(seconds=settings.CAMPAIGN_RECONCILE_AFTER_SECONDS + 1)
    counts = cs.campaign_sweep(now=later, backend=backend)
    assert counts["found"] == 1
    row.refresh_from_db()
    assert row.status == S.QUEUED and row.provider_sid
    assert [m.to for m in backend.sent].count(str(fan.phone)) == 1


def test_expired_lease_of_a_dead_worker_is_reconciled(personas, backend, daytime, settings):
    fans = _fans(personas.talent, 2)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk, limit=2)
    # The worker sends the first row, then dies before recording anything.
    first, second = batch.rows
    backend.send(cs.SmsMessage(to=first.to, body=first.body))
    later = daytime + dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS + 1)
    counts = cs.campaign_sweep(now=later, backend=backend)
    assert counts == {"found": 1, "resend": 1, "uncertain": 0}
    statuses = dict(OutboundMessage.objects.filter(id__in=[first.id, second.id]).values_list("id", "status"))
    assert statuses == {first.id: S.QUEUED, second.id: S.PENDING}
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5)
    sent = [m.to for m in backend.sent]
    assert sorted(sent) == sorted({str(personas.fan.phone), *(str(f.phone) for f in fans)})


def test_backend_without_lookup_leaves_dead_rows_uncertain(personas, daytime, settings, sms_outbox):
    _fans(personas.talent, 1)
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    cs.campaign_claim_batch(campaign_id=campaign.pk, limit=1)
    later = daytime + dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS + 1)
    assert cs.campaign_sweep(now=later)["uncertain"] == 1
    assert OutboundMessage.objects.filter(campaign=campaign, status=S.UNCERTAIN).count() == 1


def test_quiet_hours_hold_messages_until_morning(personas, backend, monkeypatch):
    # 03:00 UTC = 23:00 in New York (EDT in June): quiet.
    now = timezone.make_aware(dt.datetime(2026, 6, 10, 3, 0), timezone=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    Fan.objects.filter(pk=personas.fan.pk).update(time_zone="America/New_York")
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=2)
    assert backend.sent == []
    row = OutboundMessage.objects.get(campaign=campaign)
    assert row.status == S.PENDING
    assert row.not_before == timezone.make_aware(dt.datetime(2026, 6, 10, 12, 0), timezone=dt.UTC)  # 08:00 EDT


def test_not_marketing_override_sends_during_quiet_hours(personas, backend, monkeypatch):
    now = timezone.make_aware(dt.datetime(2026, 6, 10, 3, 0), timezone=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    Fan.objects.filter(pk=personas.fan.pk).update(time_zone="America/New_York")
    campaign = create_campaign(personas.talent, body="Tonight's show is cancelled.", ignore_quiet_hours=True)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=2)
    assert [m.to for m in backend.sent] == [str(personas.fan.phone)]
    from accounts.models import AuditEvent

    event = AuditEvent.objects.get(action="campaign.quiet_hours_override")
    assert event.actor == personas.manager and event.object_id == str(campaign.pk)


def test_unreachable_provider_is_retried_later_not_failed(personas, backend, daytime):
    fan = _fans(personas.talent, 1)[0]
    backend.fail(str(fan.phone), SmsError("could not reach Twilio (connection refused)"))
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5)
    row = OutboundMessage.objects.get(campaign=campaign, fan=fan)
    assert row.status == S.PENDING and row.not_before > daytime


@pytest.mark.django_db(transaction=True)
def test_pipelined_sender_outside_a_transaction(backend, daytime, settings):
    """Committed rows (as in a qcluster worker): claims and records run in the database thread
    while the previous batch is on the wire; every fan still gets exactly one text."""
    from tests.factories import create_talent

    settings.CAMPAIGN_BATCH_SIZE = 7
    talent = create_talent("pipeline")
    fans = _fans(talent, 25)
    # Scheduled directly: campaign_schedule would kick the (inline, in tests) dispatcher at once.
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=daytime)
    cs.campaign_start(campaign_id=campaign.pk)
    report = worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=30, backend=backend)
    assert report.sent == 25 and report.batches == 4
    assert sorted(m.to for m in backend.sent) == sorted(str(f.phone) for f in fans)
    assert OutboundMessage.objects.filter(campaign=campaign, status=S.QUEUED).count() == 25
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_media_is_sent_as_mms(personas, backend, daytime, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    campaign = create_campaign(personas.talent)
    campaign.media_file = SimpleUploadedFile("poster.png", b"\x89PNG fake", content_type="image/png")
    campaign.save()
    assert campaign.media.startswith("https://fans.example.com/media/campaign-media/")
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5)
    assert backend.sent[0].media_urls == (campaign.media,)
    assert backend.sent[0].validity_period == 36000 and backend.sent[0].status_callback.startswith(
        "https://fans.example.com/webhooks/twilio/status/?m="
    )


def test_priority_cluster_worker_never_resumes_blasts(monkeypatch, settings):
    from django_q.conf import Conf

    from messaging import tasks

    called = []
    monkeypatch.setitem(settings.Q_CLUSTER, "sync", False)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "priority")
    monkeypatch.setattr(tasks, "campaign_dispatch", lambda **kw: called.append(kw) or {"started": [], "revive": []})
    tasks.resume_on_worker_start()
    assert called == []
    monkeypatch.setattr(Conf, "CLUSTER_NAME", Conf.PREFIX)
    tasks.resume_on_worker_start()
    assert len(called) == 1


@pytest.mark.django_db(transaction=True)
def test_pipelined_sender_records_every_outcome_and_its_effects(backend, daytime, settings, monkeypatch):
    """The pipeline's own database door (psycopg async on PostgreSQL, a thread elsewhere) records
    sent, failed, throttled and opted-out sends like the sequential path, error effects included."""
    from messaging.sending import pipeline as send_pipeline
    from tests.factories import create_talent

    doors = []
    real = send_pipeline.SendDb.record

    async def spy(self, batch, outcomes):
        doors.append(type(self.main).__name__)
        return await real(self, batch, outcomes)

    monkeypatch.setattr(send_pipeline.SendDb, "record", spy)
    settings.CAMPAIGN_BATCH_SIZE = 4
    talent = create_talent("pipeline-outcomes")
    fans = _fans(talent, 10)
    stopper, dead, busy = (str(f.phone) for f in fans[:3])
    backend.fail(stopper, SmsError("unsubscribed", code="21610", status=400, permanent=True))
    backend.fail(dead, SmsError("unknown handset", code="30005", status=400, permanent=True))
    throttled = SmsError("too many requests", code="20429", status=429)
    backend.fail(busy, throttled, throttled, throttled)  # in-batch retries spent: back to pending
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=daytime)
    cs.campaign_start(campaign_id=campaign.pk)
    report = worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=30, backend=backend)

    from django.db import connection

    expected = "PgDoor" if connection.vendor == "postgresql" else "ThreadDoor"
    assert doors and set(doors) == {expected}
    assert report.counts["sent"] == 7 and report.counts["failed"] == 2 and report.counts["retry"] == 1
    rows = {str(m.to_number): m for m in OutboundMessage.objects.filter(campaign=campaign)}
    assert rows[stopper].status == S.FAILED and rows[stopper].error_code == "21610"
    assert Fan.objects.get(phone=stopper, talent=talent).status == Fan.Status.OPTED_OUT  # effect applied
    assert UndeliverableNumber.objects.filter(talent=talent, phone=dead).exists()
    assert rows[busy].status == S.PENDING and rows[busy].not_before > daytime and rows[busy].attempts == 1
    queued = [m for m in rows.values() if m.status == S.QUEUED]
    assert len(queued) == 7 and all(m.provider_sid and m.sent_at for m in queued)
    assert sorted(
        Fan.objects.filter(talent=talent, last_sent_at__isnull=False).values_list("phone", flat=True)
    ) == sorted(m.to_number for m in queued)
