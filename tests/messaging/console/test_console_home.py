"""The home page (issue 12): one talent, its zone, 30 days against 30, fast at a million fans."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Fan
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from messaging.console import rollup
from messaging.console.dashboard import home_figures
from messaging.console.models import DailyFigures
from messaging.models import Campaign, InboundMessage, OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)  # 13:00 in New York


def _join(talent, days_ago: float, source=Fan.Source.WEB, **fields):
    return create_fan(talent, joined_at=NOW - dt.timedelta(days=days_ago), source=source, **fields)


def _opt_out_record(fan, at):
    record = ConsentRecord.objects.create(
        fan=fan,
        talent=fan.talent,
        purpose=ConsentRecord.Purpose.MESSAGING,
        action=ConsentRecord.Action.WITHDRAWN,
        method="sms_keyword",
    )
    ConsentRecord.objects.filter(pk=record.pk).update(created_at=at)


def test_joins_and_opt_outs_by_day_against_the_30_days_before(personas):
    talent = personas.talent
    for _ in range(3):
        _join(talent, 2)  # this period
    _join(talent, 0.1, source=Fan.Source.SMS)  # today
    for _ in range(2):
        _join(talent, 40, source=Fan.Source.IMPORT)  # the period before
    _join(personas.other_talent, 2)  # another talent's fan never counts
    gone = _join(talent, 5, status=Fan.Status.OPTED_OUT)
    _opt_out_record(gone, NOW - dt.timedelta(days=1))
    home = home_figures(talent, now=NOW)
    assert len(home.days) == 30 and home.days[-1] == dt.date(2026, 11, 20)
    assert home.joins_total == 5  # 3 + today + the fan who later left
    assert home.joins_before_total == 2
    assert home.opt_outs_total == 1 and home.opt_outs_before_total == 0
    sources = {s["source"]: s["n"] for s in home.sources}
    assert sources[Fan.Source.WEB] == 4 and sources[Fan.Source.SMS] == 1 and sources[Fan.Source.IMPORT] == 0


def test_a_day_is_the_talents_local_day(personas):
    talent = personas.talent  # America/New_York
    # 03:30 UTC on Nov 18 is 22:30 on Nov 17 in New York.
    create_fan(talent, joined_at=dt.datetime(2026, 11, 18, 3, 30, tzinfo=dt.UTC))
    home = home_figures(talent, now=NOW)
    by_day = dict(zip(home.days, home.joins, strict=True))
    assert by_day[dt.date(2026, 11, 17)] == 1 and by_day[dt.date(2026, 11, 18)] == 0


def test_closed_days_come_from_the_rollup_not_from_fan_rows(personas):
    talent = personas.talent
    _join(talent, 3)
    rollup.rollup_all(now=NOW)  # the task
    assert DailyFigures.objects.filter(talent=talent).count() == 61  # 60 closed days + today's snapshot
    # A row written behind the rollup's back into a final day is not seen: the page never recounts.
    _join(talent, 3)
    assert home_figures(talent, now=NOW).joins_total == 1
    # The task is idempotent: a second run writes nothing new and changes nothing.
    assert rollup.rollup_all(now=NOW)["days"] == 0
    assert DailyFigures.objects.filter(talent=talent).count() == 61


def test_yesterday_is_recomputed_until_it_is_final(personas):
    talent = personas.talent
    nov19 = dt.date(2026, 11, 19)
    rollup.rollup_all(now=dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC))  # 01:00 in New York
    create_fan(talent, joined_at=dt.datetime(2026, 11, 19, 23, 0, tzinfo=dt.UTC))  # 18:00 Nov 19 in NY, late
    rollup.rollup_all(now=dt.datetime(2026, 11, 20, 6, 30, tzinfo=dt.UTC))  # within LATE: recomputed
    assert DailyFigures.objects.get(talent=talent, day=nov19).joins == 1
    rollup.rollup_all(now=NOW)  # past LATE: computed a last time, final from now on
    create_fan(talent, joined_at=dt.datetime(2026, 11, 19, 23, 0, tzinfo=dt.UTC))
    rollup.rollup_all(now=NOW + dt.timedelta(hours=1))
    assert DailyFigures.objects.get(talent=talent, day=nov19).joins == 1


def test_members_now_is_the_snapshot_plus_what_changed_since(personas):
    talent = personas.talent  # personas.fan is active
    rollup.rollup_all()
    assert home_figures(talent).members == 1
    create_fan(talent, joined_at=timezone.now())
    create_fan(talent, joined_at=timezone.now())
    fan_opt_out(fan=personas.fan, evidence=Evidence(method="sms_keyword"))
    from django.core.cache import cache

    cache.clear()
    assert home_figures(talent, now=timezone.now()).members == 2  # the snapshot's 1, +2 joined, -1 opted out


def test_campaign_rows_show_stored_results_and_count_only_real_replies(personas):
    talent = personas.talent
    campaign = Campaign.objects.create(
        talent=talent, name="Tour", body="Hi", status=Campaign.Status.COMPLETED, started_at=NOW, finished_at=NOW
    )
    fans = [personas.fan, create_fan(talent), create_fan(talent), create_fan(talent)]
    for fan in fans:
        OutboundMessage.objects.create(
            talent=talent, fan=fan, campaign=campaign, to_number="+1", status="delivered", sent_at=NOW, parts=1
        )
    for n, (fan, action) in enumerate([(fans[0], "inbox"), (fans[1], "opt_out"), (fans[2], "help")]):
        msg = InboundMessage.objects.create(
            talent=talent, fan=fan, message_sid=f"SM{n:032d}", from_number="+1", to_number="+2", body="x", action=action
        )
        InboundMessage.objects.filter(pk=msg.pk).update(received_at=NOW + dt.timedelta(minutes=5))
    home = home_figures(talent, now=NOW + dt.timedelta(hours=1))
    (row,) = home.campaigns
    assert row["results"]["sent"] == 4 and row["results"]["delivered"] == 4
    assert row["results"]["reply_rate"] == 0.25  # STOP and HELP are not replies
    campaign.refresh_from_db()
    assert campaign.results_at is not None  # stored: the next view reads it


def test_page_in_the_talents_zone_with_charts_tables_and_links(client, personas):
    talent = personas.talent
    _join(talent, 2, region="CA")
    client.force_login(personas.manager)
    page = client.get("/admin/").content.decode()
    assert "Nova Ray at a glance" in page and "Rival Act" not in page
    assert "America/New_York" in page
    assert page.count('role="img"') == 2 and '<title id="fc-joins-t">' in page and "<desc" in page
    assert "Joins and opt-outs by day as a table" in page
    home = page[page.index('<section class="fc-home"') :]
    assert "<script" not in home[: home.index("</section>\n")]
    # Every tile is a link to the list behind it, and those lists answer (the lookups are allowed).
    for tile in ("members", "joins", "optouts", "unanswered"):
        href = re.search(rf'href="([^"]+)" id="fc-tile-{tile}"', page).group(1).replace("&amp;", "&")
        response = client.get(href)
        assert response.status_code == 200 and "?e=1" not in response.get("Location", ""), tile


def test_a_second_view_counts_no_fan_rows_beyond_todays_window(client, personas):
    for _ in range(5):
        _join(personas.talent, 10)
    rollup.rollup_all()
    client.force_login(personas.manager)
    client.get("/admin/")
    from django.core.cache import cache

    cache.clear()  # the live window queries run again, the rollup is not recomputed
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    fan_table = Fan._meta.db_table
    fan_counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and f'"{fan_table}"' in q["sql"]]
    # Only the bounded windows (joined_at >= today / the snapshot) may count fans, never all of them.
    assert fan_counts and all('"joined_at" >=' in sql for sql in fan_counts), fan_counts


def test_the_periodic_task_is_scheduled_and_refreshes_campaign_results(personas):
    from django_q.models import Schedule

    from messaging import tasks

    tasks.ensure_periodic_schedules()
    assert Schedule.objects.filter(name="home: daily figures", func="messaging.tasks.rollup_home_figures").exists()
    campaign = Campaign.objects.create(
        talent=personas.talent, name="Live", body="Hi", status=Campaign.Status.SENDING, started_at=timezone.now()
    )
    OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, campaign=campaign, to_number="+1", status="queued", sent_at=NOW
    )
    done = tasks.rollup_home_figures()
    campaign.refresh_from_db()
    assert done["campaign_results"] == 1 and campaign.results["sent"] == 1
    assert tasks.rollup_home_figures()["campaign_results"] == 0  # fresh for five minutes


def test_unanswered_and_first_reply_tiles_read_the_conversations(client, personas):
    """The home page shows the conversations' own figures (messaging/conversations/figures.py):
    a STOP or a join text opens nothing; a real reply waits until the team answers it."""
    from django.test import TestCase

    from messaging.conversations import services
    from messaging.conversations.models import Conversation
    from tests.accounts.join_support import text_in

    text_in(client, personas.talent, "STOP", "+14155558100")
    text_in(client, personas.talent, "hi", "+14155558101")  # a stranger: a join link, no conversation
    text_in(client, personas.talent, "when is the next show?", str(personas.fan.phone))
    client.force_login(personas.owner)
    html = client.get(reverse("admin:index")).content.decode()
    tile = re.search(r'id="fc-tile-unanswered".*?</a>', html, re.S).group(0)
    assert '<span class="fc-value">1</span>' in tile and "oldest waiting since" in tile
    assert "1 fan wrote" in re.search(r'id="fc-tile-first-reply".*?</a>', html, re.S).group(0)

    conversation = Conversation.objects.get(talent=personas.talent, fan=personas.fan)
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.conversation_reply(conversation=conversation, user=personas.owner, body="Friday!", seen_reply_id=None)
    html = client.get(reverse("admin:index")).content.decode()
    tile = re.search(r'id="fc-tile-unanswered".*?</a>', html, re.S).group(0)
    assert '<span class="fc-value">0</span>' in tile and "nobody is waiting" in tile
    first = re.search(r'id="fc-tile-first-reply".*?</a>', html, re.S).group(0)
    assert re.search(r'<span class="fc-value">\d+ s</span>', first) and "100% answered within 1 hour" in first
