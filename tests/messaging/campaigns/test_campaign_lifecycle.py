"""Schedule, approve, pause, resume, cancel, grace period, per-fan local time; the dispatcher."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import AuditEvent, Fan
from messaging import tasks
from messaging.campaigns.services import (
    campaign_approve,
    campaign_cancel,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
)
from messaging.models import Campaign, CampaignStateError, OutboundMessage
from messaging.sending import engine as cs
from messaging.sending import worker
from messaging.sending.dispatch import campaign_dispatch
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
CS = Campaign.Status
S = OutboundMessage.Status


def test_big_campaign_needs_a_second_team_members_approval(
    personas, backend, clock, django_capture_on_commit_callbacks
):
    personas.talent.approval_threshold = 1
    personas.talent.save()
    create_fan(personas.talent, "+14156668000")
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    assert campaign.status == CS.AWAITING_APPROVAL and campaign.estimated_recipients == 2
    assert campaign_dispatch()["started"] == []
    with pytest.raises(PermissionDenied, match="second team member"):
        campaign_approve(campaign=campaign, actor=personas.manager)
    with pytest.raises(PermissionDenied):
        campaign_approve(campaign=campaign, actor=personas.agent)  # agents may not approve
    with pytest.raises(PermissionDenied):
        campaign_approve(campaign=campaign, actor=personas.other_manager)  # another talent's manager
    with django_capture_on_commit_callbacks(execute=True):
        campaign_approve(campaign=campaign, actor=personas.owner)
    campaign.refresh_from_db()
    assert campaign.status == CS.COMPLETED  # approval kicked the dispatcher (tasks run inline in tests)
    assert len(backend.sent) == 2
    assert campaign.approved_by == personas.owner
    assert AuditEvent.objects.filter(action="campaign.approved", actor=personas.owner).exists()


def test_schedule_rejects_bad_input_clearly(personas, clock):
    campaign = create_campaign(personas.talent, body="Hi {firstname}")
    with pytest.raises(ValidationError, match="not a merge field"):
        campaign_schedule(campaign=campaign, actor=personas.manager)
    campaign = create_campaign(personas.talent, schedule_mode=Campaign.ScheduleMode.AT, send_at=None)
    with pytest.raises(ValidationError):
        campaign_schedule(campaign=campaign, actor=personas.manager)
    campaign = create_campaign(
        personas.talent, schedule_mode=Campaign.ScheduleMode.AT, send_at=clock.now - dt.timedelta(days=1)
    )
    with pytest.raises(ValidationError, match="passed"):
        campaign_schedule(campaign=campaign, actor=personas.manager)
    with pytest.raises(PermissionDenied):
        campaign_schedule(campaign=create_campaign(personas.talent), actor=personas.analyst)
    assert not Campaign.objects.exclude(status=CS.DRAFT).exists()


def test_scheduled_at_a_time_starts_when_due(personas, backend, clock):
    at = clock.now + dt.timedelta(hours=1)
    campaign = create_campaign(personas.talent, schedule_mode=Campaign.ScheduleMode.AT, send_at=at)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    assert tasks.dispatch_campaigns()["started"] == []
    clock.advance(hours=1, seconds=1)
    assert tasks.dispatch_campaigns()["started"] == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CS.COMPLETED  # inline tasks sent everything
    assert [m.to for m in backend.sent] == [str(personas.fan.phone)]


def test_missed_beyond_grace_does_not_start_on_recovery(personas, backend, clock, settings):
    settings.CAMPAIGN_START_GRACE_MINUTES = 30
    campaign = create_campaign(
        personas.talent, schedule_mode=Campaign.ScheduleMode.AT, send_at=clock.now + dt.timedelta(minutes=10)
    )
    campaign_schedule(campaign=campaign, actor=personas.manager)
    within = create_campaign(
        personas.talent, schedule_mode=Campaign.ScheduleMode.AT, send_at=clock.now + dt.timedelta(minutes=35)
    )
    campaign_schedule(campaign=within, actor=personas.manager)
    clock.advance(minutes=50)  # the system was down from before the first time until now
    tasks.dispatch_campaigns()
    campaign.refresh_from_db()
    within.refresh_from_db()
    assert campaign.status == CS.MISSED and not OutboundMessage.objects.filter(campaign=campaign).exists()
    assert within.status == CS.COMPLETED


def test_pause_resume_cancel_mid_send(personas, backend, clock, django_capture_on_commit_callbacks):
    for i in range(5):
        create_fan(personas.talent, f"+1415666{8100 + i}")
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk, limit=2)
    cs.batch_record(batch=batch, outcomes=cs.batch_send(batch=batch, backend=backend))
    campaign_pause(campaign=campaign, actor=personas.manager)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=2)
    assert len(backend.sent) == 2  # paused: nothing more is claimed
    with django_capture_on_commit_callbacks(execute=True):
        campaign_resume(campaign=campaign, actor=personas.manager)
    campaign.refresh_from_db()
    assert campaign.status in (CS.SENDING, CS.COMPLETED)
    assert len(backend.sent) == 6  # resume enqueued the send (inline in tests)

    other = create_campaign(personas.talent, body="Second")
    campaign_schedule(campaign=other, actor=personas.manager)
    cs.campaign_start(campaign_id=other.pk)
    batch = cs.campaign_claim_batch(campaign_id=other.pk, limit=1)
    campaign_cancel(campaign=other, actor=personas.manager)
    cs.batch_record(batch=batch, outcomes=cs.batch_send(batch=batch, backend=backend))  # in flight finishes
    worker.campaign_send_batches(campaign_id=other.pk, budget_seconds=2)
    assert OutboundMessage.objects.filter(campaign=other, status=S.CANCELLED).count() == 5
    assert OutboundMessage.objects.filter(campaign=other, status=S.QUEUED).count() == 1
    with pytest.raises(CampaignStateError):
        campaign_resume(campaign=other, actor=personas.manager)


def test_local_time_per_fan_zone_and_late_policy(personas, backend, clock):
    # Now is 18:00 UTC: 10:00 has passed in Paris (19:00) and New York (14:00), not yet in Honolulu (08:00).
    Fan.objects.filter(pk=personas.fan.pk).update(time_zone="Pacific/Honolulu")
    paris = create_fan(personas.talent, "+33612345678", time_zone="Europe/Paris", country="FR")
    ny = create_fan(personas.talent, "+12125550123", time_zone="America/New_York")
    today = clock.now.date()
    skip = create_campaign(
        personas.talent,
        schedule_mode=Campaign.ScheduleMode.LOCAL_TIME,
        local_date=today,
        local_time=dt.time(10),
        late_policy=Campaign.LatePolicy.SKIP,
    )
    campaign_schedule(campaign=skip, actor=personas.manager)
    assert skip.send_at == clock.now  # some zones already passed: starts now
    cs.campaign_start(campaign_id=skip.pk)
    rows = {r.fan_id: r for r in OutboundMessage.objects.filter(campaign=skip)}
    assert rows[paris.pk].status == S.SUPPRESSED and rows[paris.pk].error_code == "local_time_past"
    assert rows[ny.pk].status == S.SUPPRESSED
    honolulu = rows[personas.fan.pk]
    assert honolulu.status == S.PENDING and honolulu.not_before == clock.now + dt.timedelta(hours=2)

    late = create_campaign(
        personas.talent, schedule_mode=Campaign.ScheduleMode.LOCAL_TIME, local_date=today, local_time=dt.time(10)
    )
    campaign_schedule(campaign=late, actor=personas.manager)
    cs.campaign_start(campaign_id=late.pk)
    rows = {r.fan_id: r for r in OutboundMessage.objects.filter(campaign=late)}
    assert rows[ny.pk].status == S.PENDING and rows[ny.pk].not_before == clock.now  # 14:00 in NY: send now
    # 19:00 in Paris is outside quiet hours too: now. (At 22:00 it would wait for 08:00.)
    assert rows[paris.pk].not_before == clock.now
    worker.campaign_send_batches(campaign_id=late.pk, budget_seconds=2)
    assert sorted(m.to for m in backend.sent) == sorted([str(ny.phone), str(paris.phone)])
    clock.advance(hours=2, seconds=1)
    result = campaign_dispatch()
    assert late.pk in result["revive"] and skip.pk in result["revive"]


def test_periodic_schedules_exist_once_after_migrate():
    tasks.ensure_periodic_schedules()
    tasks.ensure_periodic_schedules()
    for func in (tasks.DISPATCH_FUNC, tasks.PRIORITY_SWEEP_FUNC):
        schedules = Schedule.objects.filter(func=func)
        assert schedules.count() == 1
        assert schedules.get().schedule_type == Schedule.MINUTES and schedules.get().minutes == 1
        assert schedules.get().cluster is None  # the main cluster runs them, not the priority lane


def test_priority_sweeper_task_requeues_a_lost_reply(personas, sms_outbox):
    import datetime as dt

    from messaging.models import OutboundMessage

    lost = OutboundMessage.objects.create(
        talent=personas.talent,
        fan=personas.fan,
        kind=OutboundMessage.Kind.REPLY,
        to_number=str(personas.fan.phone),
        body="We moved the show to 9pm.",
        status=OutboundMessage.Status.PENDING,
    )
    OutboundMessage.objects.filter(pk=lost.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10))
    tasks.sweep_priority_messages()
    lost.refresh_from_db()
    assert lost.status == OutboundMessage.Status.QUEUED
    assert [m.body for m in sms_outbox] == ["We moved the show to 9pm."]


def test_campaign_services_ask_the_one_permission_check(personas, clock):
    """campaigns.services asks accounts.actors.require: a token acts by its scopes and for its one
    talent, a refusal is NotAllowed (still a PermissionDenied), the system (None) may."""
    from accounts.actors import Actor, NotAllowed
    from accounts.api_tokens import token_create

    campaign = create_campaign(personas.talent)
    reader, _ = token_create(
        talent=personas.talent, actor=personas.owner, name="r", scopes=["campaigns:read"], expires_at=None
    )
    writer, _ = token_create(
        talent=personas.talent, actor=personas.owner, name="w", scopes=["campaigns:write"], expires_at=None
    )
    with pytest.raises(NotAllowed, match="may not compose campaigns"):
        campaign_pause(campaign=campaign, actor=reader)  # a read scope does not compose
    with pytest.raises(NotAllowed):
        campaign_schedule(campaign=campaign, actor=Actor.member(personas.other_manager))
    other = create_campaign(personas.other_talent)
    with pytest.raises(NotAllowed):
        campaign_cancel(campaign=other, actor=writer)  # a token acts for its one talent only
    campaign_cancel(campaign=campaign, actor=writer)
    assert campaign.status == CS.CANCELLED
    campaign_pause(campaign=create_campaign(personas.talent, status=CS.SCHEDULED), actor=None)  # the system
