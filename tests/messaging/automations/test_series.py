"""The welcome series (issue 14 §2): enrolment on join, delays, STOP, DST, cap, quiet hours,
cancel, edits, pause, filters, report, roles; every text through the campaign engine."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Fan
from accounts.tokens import join_tokens
from messaging.automations import joins as svc_joins
from messaging.automations import series as svc
from messaging.automations.occurrences import fan_zone
from messaging.campaigns import scheduling
from messaging.models import (
    AutomationCampaign,
    Campaign,
    OutboundMessage,
    WelcomeEnrolment,
    WelcomeSeries,
    WelcomeStep,
    WelcomeStepSend,
)
from messaging.privacy.services import fan_erase
from tests.accounts.join_support import committing, join_url, publish_documents, signup_data
from tests.messaging.automations.support import NOON_LA, join, live_series, run, stop
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
E = WelcomeEnrolment.Status
S = OutboundMessage.Status
LA = scheduling.zone("America/Los_Angeles")


def test_a_web_signup_enrols_the_fan_and_the_steps_go_in_order_through_the_engine(
    client, personas, backend, clock, sms_outbox
):
    live_series(personas, (10, "Hi {first_name}, welcome!"), (24 * 60, "Day two: the tour."))
    terms, privacy = publish_documents(personas.talent)
    phone = "+14155552671"
    url = join_url(personas.talent) + "?t=" + join_tokens.make_token(talent=personas.talent, phone=phone)
    response = committing(client.post, url, signup_data(terms, privacy, first_name="Rosa"))
    assert response.status_code == 302
    fan = Fan.objects.get(talent=personas.talent, phone=phone)
    enrolment = WelcomeEnrolment.objects.get(fan=fan)
    assert enrolment.source == Fan.Source.WEB and enrolment.next_due_at == NOON_LA + dt.timedelta(minutes=10)

    clock.advance(minutes=9)
    assert run(clock, backend) == []
    clock.advance(minutes=2)
    assert run(clock, backend) == ["Hi Rosa, welcome!"]
    assert run(clock, backend) == []  # exactly once: a second run finds nothing due
    clock.advance(days=1)
    assert run(clock, backend) == ["Day two: the tour."]
    enrolment.refresh_from_db()
    assert enrolment.status == E.COMPLETED
    # One engine row per step, each in its own occurrence campaign linked to its step.
    rows = OutboundMessage.objects.filter(fan=fan, kind=OutboundMessage.Kind.CAMPAIGN)
    assert rows.count() == 2 and set(rows.values_list("status", flat=True)) == {S.QUEUED}
    assert AutomationCampaign.objects.filter(series=enrolment.series).count() == 2


def test_a_fan_is_welcomed_once_even_if_they_join_again(personas, clock):
    live_series(personas, (10, "Welcome!"))
    fan = join(personas, "+14155550301")
    assert svc.series_enrol(fan=fan) is None
    assert WelcomeEnrolment.objects.filter(fan=fan).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        WelcomeStepSend.objects.bulk_create(
            [
                WelcomeStepSend(
                    enrolment=WelcomeEnrolment.objects.get(fan=fan),
                    fan=fan,
                    position=1,
                    campaign=create_campaign(personas.talent),
                )
            ]
            * 2
        )


def test_a_stop_between_two_welcome_steps_stops_the_second(personas, backend, clock):
    live_series(personas, (10, "One"), (60, "Two"))
    fan = join(personas, "+14155550302")
    clock.advance(minutes=11)
    assert run(clock, backend) == ["One"]
    stop(fan)
    clock.advance(hours=2)
    assert run(clock, backend) == []
    enrolment = WelcomeEnrolment.objects.get(fan=fan)
    assert enrolment.status == E.STOPPED and enrolment.next_due_at is None
    assert OutboundMessage.objects.filter(fan=fan, kind="campaign").count() == 1


def test_a_stop_after_the_step_was_handed_over_is_caught_at_claim(personas, backend, clock):
    """Handed to the engine at 22:00 local (quiet hours): it waits for 08:00; a STOP meanwhile wins."""
    clock.at(dt.datetime(2026, 6, 11, 4, 50, tzinfo=dt.UTC))  # 21:50 in Los Angeles
    live_series(personas, (10, "Late night hello"))
    fan = join(personas, "+14155550303")
    clock.advance(minutes=11)
    assert run(clock, backend) == []
    row = OutboundMessage.objects.get(fan=fan, kind="campaign")
    assert row.status == S.PENDING and row.not_before.astimezone(LA).time() == dt.time(8, 0)
    stop(fan)
    clock.at(row.not_before + dt.timedelta(minutes=1))
    assert run(clock, backend) == []
    row.refresh_from_db()
    assert row.status == S.SUPPRESSED


def test_quiet_hours_hold_a_marketing_step_until_the_fans_morning(personas, backend, clock):
    clock.at(dt.datetime(2026, 6, 11, 4, 50, tzinfo=dt.UTC))  # 21:50 in Los Angeles
    live_series(personas, (10, "Marketing"))
    join(personas, "+14155550304")
    clock.advance(minutes=11)
    assert run(clock, backend) == []
    clock.at(dt.datetime(2026, 6, 11, 14, 59, tzinfo=dt.UTC))  # 07:59 local
    assert run(clock, backend) == []
    clock.advance(minutes=2)
    assert run(clock, backend) == ["Marketing"]


def test_a_not_marketing_step_goes_in_quiet_hours(personas, backend, clock):
    clock.at(dt.datetime(2026, 6, 11, 4, 50, tzinfo=dt.UTC))
    live_series(personas, (10, "How to reach the team"), not_marketing=True)
    join(personas, "+14155550305")
    clock.advance(minutes=11)
    assert run(clock, backend) == ["How to reach the team"]


def test_the_next_step_counts_from_when_the_held_step_leaves(personas, backend, clock):
    """Step 1 held by quiet hours until 08:00; a 30-minute step 2 goes at 08:30, never before step 1."""
    clock.at(dt.datetime(2026, 6, 11, 4, 50, tzinfo=dt.UTC))
    live_series(personas, (10, "One"), (30, "Two"))
    fan = join(personas, "+14155550306")
    clock.advance(minutes=11)
    run(clock, backend)
    enrolment = WelcomeEnrolment.objects.get(fan=fan)
    assert enrolment.next_due_at.astimezone(LA).time() == dt.time(8, 30)


def test_a_delay_of_whole_days_keeps_the_wall_clock_across_dst():
    # Joined Saturday 21:00 PST; clocks go forward that night (2026-03-08 02:00 -> 03:00).
    anchor = scheduling.local_instant(dt.date(2026, 3, 7), dt.time(21, 0), LA)
    one_day = svc.add_delay(anchor, 24 * 60, LA)
    assert one_day.astimezone(LA).replace(tzinfo=None) == dt.datetime(2026, 3, 8, 21, 0)
    assert one_day - anchor == dt.timedelta(hours=23)  # the lost hour is not added back
    # Fall back (2026-11-01 02:00 -> 01:00): a day is 25 hours of elapsed time, same wall time.
    autumn = scheduling.local_instant(dt.date(2026, 10, 31), dt.time(21, 0), LA)
    assert svc.add_delay(autumn, 24 * 60, LA) - autumn == dt.timedelta(hours=25)
    # Any other delay is exact elapsed time, even across the gap.
    night = scheduling.local_instant(dt.date(2026, 3, 8), dt.time(1, 30), LA)
    assert svc.add_delay(night, 90, LA) - night == dt.timedelta(minutes=90)
    assert svc.add_delay(night, 90, LA).astimezone(LA).time() == dt.time(4, 0)


def test_dst_inside_a_delay_end_to_end(personas, backend, clock):
    clock.at(scheduling.local_instant(dt.date(2026, 3, 7), dt.time(12, 0), LA))
    live_series(personas, (24 * 60, "Same time tomorrow"))
    fan = join(personas, "+14155550307")
    due = WelcomeEnrolment.objects.get(fan=fan).next_due_at
    assert due.astimezone(LA).replace(tzinfo=None) == dt.datetime(2026, 3, 8, 12, 0)
    clock.at(due - dt.timedelta(minutes=1))
    assert run(clock, backend) == []
    clock.at(due)
    assert run(clock, backend) == ["Same time tomorrow"]


def test_a_step_the_frequency_cap_blocks_waits_and_then_goes(personas, backend, clock):
    talent = personas.talent
    talent.daily_frequency_cap = 1
    talent.save(update_fields=["daily_frequency_cap"])
    live_series(personas, (10, "Welcome"))
    fan = join(personas, "+14155550308")
    blast = create_campaign(talent, status=Campaign.Status.COMPLETED, started_at=clock.now)
    OutboundMessage.objects.create(
        talent=talent, fan=fan, campaign=blast, to_number=str(fan.phone), body="Blast", status=S.SENT
    )
    clock.advance(minutes=11)
    assert run(clock, backend) == []
    enrolment = WelcomeEnrolment.objects.get(fan=fan)
    # Waiting, not dropped: no suppressed row was left behind, and no empty campaign either.
    assert enrolment.status == E.ACTIVE and enrolment.waiting_reason == "frequency_cap"
    assert enrolment.next_due_at == blast.started_at + dt.timedelta(days=1, seconds=1)
    assert not OutboundMessage.objects.filter(fan=fan, status=S.SUPPRESSED).exists()
    assert not AutomationCampaign.objects.exists()
    clock.at(enrolment.next_due_at)
    assert run(clock, backend) == ["Welcome"]
    enrolment.refresh_from_db()
    assert enrolment.status == E.COMPLETED and enrolment.waiting_reason == ""


def test_cancel_for_everyone_stops_waiting_fans_and_unsent_texts(personas, backend, clock):
    clock.at(dt.datetime(2026, 6, 11, 4, 50, tzinfo=dt.UTC))  # 21:50 local: step 1 will be held
    series = live_series(personas, (10, "One"), (60, "Two"))
    held = join(personas, "+14155550309")
    clock.advance(minutes=11)
    run(clock, backend)
    waiting = join(personas, "+14155550310")
    svc.series_cancel(series=series, actor=personas.manager)
    assert OutboundMessage.objects.get(fan=held, kind="campaign").status == S.CANCELLED
    assert set(WelcomeEnrolment.objects.values_list("status", flat=True)) == {E.CANCELLED}
    clock.advance(days=1)
    assert run(clock, backend) == []
    assert svc.series_enrol(fan=waiting) is None  # a cancelled series enrols nobody


def test_editing_a_live_series_changes_only_steps_not_yet_sent(personas, backend, clock):
    series = live_series(personas, (10, "One v1"), (24 * 60, "Two v1"))
    join(personas, "+14155550311")
    clock.advance(minutes=11)
    assert run(clock, backend) == ["One v1"]
    WelcomeStep.objects.filter(series=series, position=1).update(body="One v2")
    WelcomeStep.objects.filter(series=series, position=2).update(body="Two v2", delay_minutes=120)
    svc.series_steps_changed(series=series)
    clock.advance(hours=2)
    assert run(clock, backend) == ["Two v2"]  # the new wait and text; step 1 is not sent again
    assert OutboundMessage.objects.filter(kind="campaign").count() == 2


def test_pause_holds_everything_and_resume_continues(personas, backend, clock):
    clock.at(dt.datetime(2026, 6, 11, 4, 50, tzinfo=dt.UTC))
    series = live_series(personas, (10, "One"), (60 * 12, "Two"))
    join(personas, "+14155550312")
    clock.advance(minutes=11)
    run(clock, backend)  # step 1 handed over, held until 08:00
    svc.series_pause(series=series, actor=personas.manager)
    assert svc.series_enrol(fan=join(personas, "+14155550313")) is None  # nobody new while paused
    clock.at(dt.datetime(2026, 6, 11, 16, 0, tzinfo=dt.UTC))  # 09:00 local
    assert run(clock, backend) == []
    svc.series_resume(series=series, actor=personas.manager)
    assert run(clock, backend) == ["One"]


def test_an_automation_never_texts_a_fan_who_is_not_active(personas, backend, clock):
    live_series(personas, (10, "Hello"))
    fan = join(personas, "+14155550314")
    Fan.objects.filter(pk=fan.pk).update(status=Fan.Status.HELD)
    clock.advance(minutes=11)
    assert run(clock, backend) == []
    assert WelcomeEnrolment.objects.get(fan=fan).status == E.STOPPED
    pending = join(personas, "+14155550315", status=Fan.Status.PENDING)
    assert not WelcomeEnrolment.objects.filter(fan=pending).exists()


def test_steps_limited_to_a_source_or_a_keyword(personas, backend, clock):
    series = live_series(personas, (10, "Web only"), (20, "Everyone"), (30, "Tour keyword"))
    WelcomeStep.objects.filter(series=series, position=1).update(only_source=Fan.Source.WEB)
    WelcomeStep.objects.filter(series=series, position=3).update(only_keyword=" tour ")
    texted_in = join(personas, "+14155550316")  # Fan.source "sms", the factory's default
    web_fan = join(personas, "+14155550317", how="web", source=Fan.Source.WEB)
    # The keyword a fan joined with (stored by the keyword automations) is matched in any case.
    WelcomeEnrolment.objects.filter(fan=web_fan).update(keyword=svc.normalise_keyword("Tour"))
    clock.advance(minutes=11)
    assert run(clock, backend) == ["Web only"]
    clock.advance(minutes=20)
    assert sorted(run(clock, backend)) == ["Everyone", "Everyone"]
    clock.advance(minutes=30)
    assert run(clock, backend) == ["Tour keyword"]
    assert WelcomeEnrolment.objects.get(fan=texted_in).status == E.COMPLETED


def test_one_series_runs_per_talent_and_roles_are_checked(personas):
    live_series(personas, (10, "One"))
    second = WelcomeSeries.objects.create(talent=personas.talent, name="Second")
    WelcomeStep.objects.create(series=second, position=1, delay_minutes=10, body="x")
    with pytest.raises(ValidationError, match="Another welcome series"):
        svc.series_go_live(series=second, actor=personas.manager)
    with pytest.raises(PermissionDenied):
        svc.series_pause(series=WelcomeSeries.objects.get(name="Welcome"), actor=personas.agent)
    with pytest.raises(PermissionDenied):
        svc.series_cancel(series=second, actor=personas.other_manager)
    with pytest.raises(ValidationError, match="at most five"):
        svc.series_check_steps([{"position": n} for n in range(1, 7)])


def test_each_step_has_its_own_report(personas, backend, clock):
    series = live_series(personas, (10, "One"), (60, "Two"))
    first = join(personas, "+14155550318")
    join(personas, "+14155550319")
    clock.advance(minutes=11)
    run(clock, backend)
    stop(first)
    rows = {row["step"].position: row for row in svc.series_report(series=series)}
    assert rows[1]["sent"] == 2 and rows[1]["opt_outs"] == 1
    assert rows[2]["sent"] == 0 and rows[2]["waiting"] == 2


def test_the_next_24_hours_lists_what_will_go_out(personas, backend, clock):
    series = live_series(personas, (10, "One"), (60 * 30, "Two"))
    join(personas, "+14155550320")
    join(personas, "+14155550321")
    rows = svc.automations_upcoming(talent_ids={personas.talent.pk})
    assert [(r["automation"], r["what"], r["count"]) for r in rows] == [(series, "Step 1", 2)]
    assert rows[0]["zone"] == personas.talent.default_time_zone
    assert svc.automations_upcoming(talent_ids={personas.other_talent.pk}) == []
    clock.advance(minutes=11)
    run(clock, backend)
    assert svc.automations_upcoming(talent_ids={personas.talent.pk}) == []  # step 2 is 30 hours away


def test_erasure_removes_the_fans_enrolment(personas, backend, clock):
    live_series(personas, (10, "One"))
    fan = join(personas, "+14155550322")
    clock.advance(minutes=11)
    run(clock, backend)
    fan_erase(fan=fan)
    assert not WelcomeEnrolment.objects.filter(fan=fan).exists()
    assert not WelcomeStepSend.objects.filter(fan=fan).exists()


def test_fan_zone_falls_back_to_the_talents(personas):
    fan = personas.fan
    fan.time_zone = ""
    assert fan_zone(fan, personas.talent).key == personas.talent.default_time_zone


def test_a_step_for_a_keyword_reaches_the_fan_who_texted_it_before_joining(personas, backend, clock):
    """The keyword automations keep the word a number texted before joining (FanKeyword); the join
    hook hands it to the series, so "only fans who joined with TOUR" reads the real path."""
    from messaging.automations.keyword_models import FanKeyword, Keyword
    from tests.factories import create_fan

    series = live_series(personas, (10, "Tour keyword"), (20, "Everyone"))
    WelcomeStep.objects.filter(series=series, position=1).update(only_keyword="TOUR")
    tour = Keyword.objects.create(talent=personas.talent, word="tour", reply="Tour dates soon")
    texted = create_fan(personas.talent, "+14155550318", joined_at=clock.now)
    FanKeyword.objects.create(fan=texted, keyword=tour, word="tour")  # remembered by the rule processor
    committing(svc_joins.on_fan_joined, fan=texted, source="web")
    other = join(personas, "+14155550319", how="web")
    assert WelcomeEnrolment.objects.get(fan=texted).keyword == "TOUR"
    assert WelcomeEnrolment.objects.get(fan=other).keyword == ""
    clock.advance(minutes=11)
    assert run(clock, backend) == ["Tour keyword"]
