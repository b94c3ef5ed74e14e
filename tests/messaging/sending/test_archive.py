"""Keep the tables bounded (issue 17 §5): old message rows, once wiped by the retention policy,
go to gzipped JSONL per month (a folder or S3-compatible storage) and leave the tables; a
campaign's report keeps its figures; nothing that still reads old rows loses them."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools

import pytest
from django.core.management import call_command
from django.utils import timezone

from messaging.campaigns.models import Click, TrackedLink
from messaging.campaigns.services import campaign_report
from messaging.models import Campaign, InboundMessage, OutboundMessage
from messaging.privacy.retention import retention_apply
from messaging.sending import archive
from messaging.sending.archive import LocalStore, archive_messages, check_archive_window, read_archive
from messaging.sending.models import ArchiveFile
from tests.factories import create_fan, create_talent
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
_sid = itertools.count(1)
DAYS = 400  # MESSAGE_ARCHIVE_AFTER_DAYS's default


def _ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def _old_campaign(talent, fans, days_ago: float, status=Campaign.Status.COMPLETED):
    """A campaign sent `days_ago` days ago: one delivered row per fan (one failed), a click, a reply."""
    when = _ago(days_ago)
    campaign = create_campaign(talent, status=status, started_at=when, finished_at=when + dt.timedelta(hours=1))
    link = TrackedLink.objects.create(campaign=campaign, url="https://example.com/tour")
    rows = []
    for i, fan in enumerate(fans):
        failed = i == len(fans) - 1
        rows.append(
            OutboundMessage.objects.create(
                talent=talent,
                fan=fan,
                campaign=campaign,
                to_number=str(fan.phone),
                body=f"Hi {fan.first_name}! New tour dates out.",
                status="failed" if failed else "delivered",
                error_code="30003" if failed else "",
                provider_sid=f"SM{next(_sid):032d}",
                parts=2,
            )
        )
    OutboundMessage.objects.filter(campaign=campaign).update(created_at=when, sent_at=when, updated_at=when)
    Click.objects.create(link=link, message=rows[0], fan=fans[0])
    reply = InboundMessage.objects.create(
        talent=talent,
        fan=fans[0],
        message_sid=f"SM{next(_sid):032d}",
        from_number=str(fans[0].phone),
        to_number=str(talent.sender_number),
        body="can't wait!",
        processed_at=when,
        action=InboundMessage.Action.INBOX,
    )
    InboundMessage.objects.filter(pk=reply.pk).update(received_at=when + dt.timedelta(minutes=30))
    return campaign


@pytest.fixture
def talent():
    talent = create_talent("archived", sender_number="+14155550100")
    return talent


@pytest.fixture
def fans(talent):
    return [create_fan(talent, f"+1415777{i:04d}", first_name=f"Fan{i}") for i in range(3)]


def test_old_wiped_rows_go_to_a_file_per_month_and_the_report_keeps_its_figures(talent, fans, tmp_path):
    campaign = _old_campaign(talent, fans, DAYS + 40)
    before = campaign_report(campaign=campaign)
    assert (before["sent"], before["failed"], before["clicks"], before["replies"]) == (2, 1, 1, 1)
    recent = _old_campaign(talent, fans, 30)  # inside the window: stays
    retention_apply()  # wipes words and numbers older than 180 days
    report = archive_messages(store=LocalStore(tmp_path))

    assert report.rows == {"outbound": 3, "inbound": 1}
    assert not OutboundMessage.objects.filter(campaign=campaign).exists()
    assert OutboundMessage.objects.filter(campaign=recent).count() == 3
    campaign.refresh_from_db()
    after = campaign_report(campaign=campaign)
    assert after == before  # every figure, from the report stored with the rows
    assert Click.objects.filter(link__campaign=campaign).count() == 1  # the click stays, without its message
    month = (_ago(DAYS + 40)).strftime("%Y-%m")
    files = list(ArchiveFile.objects.order_by("table"))
    assert [(f.table, f.month.strftime("%Y-%m"), f.rows) for f in files] == [
        ("inbound", month, 1),
        ("outbound", month, 3),
    ]
    rows = read_archive(LocalStore(tmp_path), files[1].key)
    assert sorted(r["status"] for r in rows) == ["delivered", "delivered", "failed"]
    assert {r["campaign_id"] for r in rows} == {campaign.pk} and {r["parts"] for r in rows} == {2}
    raw = gzip.decompress((tmp_path / files[1].key).read_bytes()).decode()
    assert "+1415777" not in raw and "tour dates" not in raw  # wiped before archived: no number, no words


def test_nothing_goes_before_the_retention_policy_wiped_it_or_while_a_report_could_change(talent, fans, tmp_path):
    talent.keep_message_bodies_days = DAYS + 100  # keeps the words longer than the archive window
    talent.save()
    kept = _old_campaign(talent, fans[:2], DAYS + 40)
    other = create_talent("other", sender_number="+14155550101")
    other_fans = [create_fan(other, f"+1415666{i:04d}") for i in range(2)]
    sending = _old_campaign(other, other_fans, DAYS + 60, status=Campaign.Status.SENDING)
    retention_apply()
    report = archive_messages(store=LocalStore(tmp_path))
    assert report.rows == {"outbound": 0, "inbound": 0}
    assert OutboundMessage.objects.filter(campaign=kept).count() == 2  # words not wiped yet
    # A campaign still sending may still count replies: neither its rows nor the received texts
    # since its start go, though they are wiped and old.
    assert OutboundMessage.objects.filter(campaign=sending, body="").count() == 2
    assert InboundMessage.objects.filter(talent=other, body="").count() == 1
    assert Campaign.objects.get(pk=sending.pk).archived_report is None


def test_a_run_twice_archives_nothing_twice_and_a_failed_write_deletes_nothing(talent, fans, tmp_path, monkeypatch):
    campaign = _old_campaign(talent, fans, DAYS + 5)
    retention_apply()
    store = LocalStore(tmp_path)

    def broken(key, data):
        (tmp_path / "half").write_bytes(data[:10])
        raise OSError("disk full")

    monkeypatch.setattr(store, "put", broken)
    with pytest.raises(OSError):
        archive_messages(store=store)
    assert OutboundMessage.objects.filter(campaign=campaign).count() == 3  # the transaction rolled back
    assert not ArchiveFile.objects.exists()
    monkeypatch.undo()
    first = archive_messages(store=LocalStore(tmp_path))
    second = archive_messages(store=LocalStore(tmp_path))
    assert first.rows == {"outbound": 3, "inbound": 1} and second.rows == {"outbound": 0, "inbound": 0}
    assert ArchiveFile.objects.count() == 2


def test_files_hold_at_most_the_configured_rows_and_the_command_says_what_it_did(talent, fans, tmp_path, settings):
    settings.MESSAGE_ARCHIVE_ROWS_PER_FILE = 2
    _old_campaign(talent, fans, DAYS + 5)
    retention_apply()
    from io import StringIO

    out = StringIO()
    call_command("archive_messages", dir=str(tmp_path), stdout=out)
    assert [f.rows for f in ArchiveFile.objects.filter(table="outbound")] == [2, 1]
    assert "archived 3 sent and 1 received texts in 3 file(s)" in out.getvalue()


def test_a_window_shorter_than_links_and_reply_attribution_is_refused(settings):
    settings.MESSAGE_ARCHIVE_AFTER_DAYS = 30
    (error,) = check_archive_window()
    assert error.id == "messaging.E017" and "91 days" in error.hint
    settings.MESSAGE_ARCHIVE_AFTER_DAYS = archive.shortest_window().days
    assert check_archive_window() == []


@pytest.mark.postgres_only
def test_archives_go_to_s3_compatible_storage_and_the_space_is_reported(talent, fans, tmp_path, settings):
    """Against moto's S3-compatible server on a loopback port, through boto3 (what the settings select)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds).create_bucket(Bucket="fc-archive")
        settings.MESSAGE_ARCHIVE_S3_BUCKET = "fc-archive"
        settings.MESSAGE_ARCHIVE_S3_ENDPOINT_URL = endpoint
        for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
            import os

            os.environ.setdefault(name, value)
        _old_campaign(talent, fans, DAYS + 5)
        retention_apply()
        store = archive.default_store()
        assert isinstance(store, archive.S3Store)
        report = archive_messages(store=store)
        assert report.rows == {"outbound": 3, "inbound": 1}
        assert all(name.startswith("s3://fc-archive/messages/") for name in report.files)
        key = ArchiveFile.objects.get(table="outbound").key
        assert len(read_archive(store, key)) == 3
        assert report.reusable_bytes and report.reusable_bytes > 0  # PostgreSQL's bytes per row x rows
    finally:
        server.stop()


def test_interleaved_talents_and_months_each_row_in_exactly_one_file_of_its_talent_and_month(tmp_path, settings):
    """The plan (one query per table, files cut by a window function) keeps the layout: a file holds
    one talent's rows of one month, at most MESSAGE_ARCHIVE_ROWS_PER_FILE, and every row is in one file."""
    settings.MESSAGE_ARCHIVE_ROWS_PER_FILE = 2
    talents = [create_talent(f"mix{i}", sender_number=f"+1415555020{i}") for i in range(2)]
    made = []
    for n in range(10):  # ids alternate between the talents; two months apart
        talent = talents[n % 2]
        row = OutboundMessage.objects.create(talent=talent, kind="reply", to_number="", body="", status="delivered")
        made.append((row.pk, talent.pk, DAYS + 5 + 40 * (n // 5)))
    for pk, _, days in made:
        OutboundMessage.objects.filter(pk=pk).update(created_at=_ago(days))
    report = archive_messages(store=LocalStore(tmp_path))
    assert report.rows["outbound"] == 10 and not OutboundMessage.objects.exists()
    files = list(ArchiveFile.objects.filter(table="outbound"))
    assert all(f.rows <= 2 for f in files) and sum(f.rows for f in files) == 10
    seen = []
    for f in files:
        rows = read_archive(LocalStore(tmp_path), f.key)
        assert len({r["talent_id"] for r in rows}) == 1 and f"talent-{rows[0]['talent_id']}" in f.key
        assert {r["created_at"][:7] for r in rows} == {f.month.strftime("%Y-%m")}
        assert [r["id"] for r in rows] == sorted(r["id"] for r in rows) and rows[0]["id"] == f.first_id
        seen += [r["id"] for r in rows]
    assert sorted(seen) == sorted(pk for pk, _, _ in made)


def test_a_poll_vote_keeps_its_answer_when_the_reply_it_came_in_is_archived(talent, fans, tmp_path):
    """Vote.message has related_name="+": hidden from _meta.related_objects, yet its foreign key
    refused the commit (on_delete must be applied to hidden relations too)."""
    from messaging.models import Poll, Vote

    campaign = _old_campaign(talent, fans, DAYS + 5)
    poll = Poll.objects.create(
        campaign=campaign,
        question="Which city?",
        options=[{"key": "1", "label": "Paris", "keywords": ["paris"]}, {"key": "2", "label": "Rome", "keywords": []}],
    )
    reply = InboundMessage.objects.get(talent=talent)
    vote = Vote.objects.create(poll=poll, fan=fans[0], option="1", message=reply, voted_at=reply.received_at)
    retention_apply()
    report = archive_messages(store=LocalStore(tmp_path))
    assert report.rows == {"outbound": 3, "inbound": 1}
    vote.refresh_from_db()
    assert vote.option == "1" and vote.message_id is None
