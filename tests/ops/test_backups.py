"""db_backup / db_restore: a seeded database survives a pg_dump / pg_restore round trip; retention."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from accounts.models import Fan, Talent
from consent.models import ConsentRecord
from fancommunity.backups import backups_kept, backups_prune
from messaging.models import Campaign, OutboundMessage
from tests.factories import create_fan, create_talent


def _figures() -> dict:
    return {
        "talents": sorted(Talent.objects.values_list("slug", flat=True)),
        "fans": sorted((str(p), s) for p, s in Fan.objects.values_list("phone", "status")),
        "consent": ConsentRecord.objects.count(),
        "campaigns": sorted(Campaign.objects.values_list("name", "status")),
        "messages": sorted(OutboundMessage.objects.values_list("to_number", "status", "body")),
    }


@pytest.mark.slow
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_seeded_database_round_trips_through_pg_dump_and_pg_restore(tmp_path):
    talent = create_talent("backup")
    fans = [create_fan(talent, f"+1415555{i:04d}") for i in range(20)]
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            talent=talent, fan=fan, purpose=ConsentRecord.Purpose.MESSAGING, action=ConsentRecord.Action.GRANTED
        )
        for fan in fans
    )
    campaign = Campaign.objects.create(talent=talent, name="Spring tour", body="Hi {first_name}")
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            talent=talent, fan=fan, campaign=campaign, to_number=str(fan.phone), body="Hi", status="delivered"
        )
        for fan in fans
    )
    before = _figures()
    call_command("db_backup", "--dir", str(tmp_path))
    dumps = list(tmp_path.glob("fancommunity-*.dump"))
    assert len(dumps) == 1 and dumps[0].stat().st_size > 1000
    assert not list(tmp_path.glob("*.partial"))

    # Damage: what an operator restores from.
    OutboundMessage.objects.all().delete()
    Fan.objects.filter(phone__endswith="1").delete()
    create_talent("after-the-backup")
    assert _figures() != before

    with pytest.raises(CommandError, match="--yes"):
        call_command("db_restore", str(dumps[0]))
    call_command("db_restore", str(dumps[0]), "--yes")
    assert _figures() == before
    # Sequences came back too: a new row does not collide with a restored one.
    create_fan(talent, "+14155559999")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        assert cursor.fetchone()[0] > 10


@pytest.mark.slow
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_failed_restore_changes_nothing(tmp_path):
    create_talent("kept")
    broken = tmp_path / "fancommunity-20260101T000000Z.dump"
    broken.write_bytes(b"PGDMP not really a dump")
    with pytest.raises(CommandError, match="pg_restore failed"):
        call_command("db_restore", str(broken), "--yes")
    assert Talent.objects.filter(slug="kept").exists()


def test_db_backup_refuses_sqlite_with_a_clear_message(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite message")
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("db_backup", "--dir", str(tmp_path))


def test_retention_keeps_the_newest_per_day_week_and_month():
    start = dt.datetime(2026, 1, 1, 3, 30, tzinfo=dt.UTC)
    # Two dumps a day for 120 days.
    stamps = [start + dt.timedelta(days=d, hours=h) for d in range(120) for h in (0, 12)]
    kept = backups_kept(stamps, daily=7, weekly=4, monthly=6)
    newest = max(stamps)
    days = {t.date() for t in kept}
    # The last 7 days, each by its newest dump ...
    assert {newest.date() - dt.timedelta(days=i) for i in range(7)} <= days
    assert all(t.hour == 15 for t in kept)  # the newest of its day, always
    # ... plus the newest of each of the last 4 ISO weeks and the last 6 months (only 4 exist).
    assert len({t.isocalendar()[:2] for t in kept}) >= 4
    assert {(t.year, t.month) for t in kept} == {(2026, 1), (2026, 2), (2026, 3), (2026, 4)}
    assert len(kept) <= 7 + 4 + 6
    assert backups_kept([], daily=1, weekly=0, monthly=0) == set()


@override_settings(BACKUP_KEEP_DAILY=2, BACKUP_KEEP_WEEKLY=0, BACKUP_KEEP_MONTHLY=0)
def test_prune_deletes_only_what_the_retention_drops(tmp_path):
    names = [f"fancommunity-202612{d:02d}T033000Z.dump" for d in (1, 2, 3, 4)]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a dump")
    (tmp_path / "fancommunity-20261205T033000Z.dump.partial").write_bytes(b"half")
    deleted = backups_prune(directory=tmp_path)
    assert sorted(p.name for p in deleted) == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[2:], "notes.txt", "fancommunity-20261205T033000Z.dump.partial"]
    )
