"""Materialising a campaign's recipients: 1,000,000 fans, against a bare INSERT ... SELECT floor.

The floor inserts the same rows (one per active fan, same columns, same table and indexes, same
ON CONFLICT) without anything the product adds: no per-zone send times, no frequency cap, no
undeliverable-number join, no audience query. Both are measured in this run; target ratio <= 2.
"""

from __future__ import annotations

import os

from bench.common import emit, ensure_fans, ensure_talent, setup_django, timed

# About 90 % of synthetic fans are active: 1,112,000 fans give about 1,000,000 recipients.
COUNT = int(os.environ.get("BENCH_MATERIALISE_FANS", "1112000"))
SLUG = "bench-campaign"


def main() -> None:
    setup_django()
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Fan
    from messaging.models import Campaign, OutboundMessage
    from messaging.sending.engine import campaign_materialise

    talent = ensure_talent(SLUG)
    ensure_fans(SLUG, COUNT)
    active = Fan.objects.filter(talent=talent, status=Fan.Status.ACTIVE).count()
    table = OutboundMessage._meta.db_table

    def fresh(name: str) -> Campaign:
        return Campaign.objects.create(talent=talent, name=name, body="Hi {first_name}, new dates: {link:https://x.io}")

    def clear(campaign: Campaign) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE campaign_id = %s", [campaign.pk])
            cursor.execute(f"VACUUM ANALYZE {table}")

    # Warm the fan table's pages the same way for both.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_fan WHERE talent_id = %s", [talent.pk])
        cursor.execute(f"VACUUM ANALYZE {table}")

    def bare_insert() -> tuple[float, int]:
        floor_campaign = fresh("bench floor")
        now = timezone.now()
        with timed() as floor, connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (talent_id, fan_id, campaign_id, kind, to_number, body, media_url, status, "
                "error_code, error_message, segments, attempts, not_before, created_at, updated_at) "
                "SELECT f.talent_id, f.id, %s, 'campaign', f.phone, '', '', 'pending', '', '', 1, 0, %s, %s, %s "
                "FROM accounts_fan f WHERE f.talent_id = %s AND f.status = 'active' ON CONFLICT DO NOTHING",
                [floor_campaign.pk, now, now, now, talent.pk],
            )
            rows = cursor.rowcount
        seconds = floor()
        clear(floor_campaign)
        floor_campaign.delete()
        return seconds, rows

    # The floor runs before and after ours (WAL, checkpoints and caches favour neither); the
    # faster of the two is the floor.
    floor_first, floor_rows = bare_insert()
    campaign = fresh("bench materialise")
    with timed() as ours:
        result = campaign_materialise(campaign=campaign)
    ours_s = ours()
    clear(campaign)
    floor_second, _ = bare_insert()
    floor_s = min(floor_first, floor_second)
    ratio = ours_s / floor_s
    emit(
        "materialise",
        f"{active:,} recipients",
        ours_s,
        "s",
        target="<= 2x bare INSERT ... SELECT",
        ok=ratio <= 2 and result.created == floor_rows,
        floor_s=round(floor_s, 3),
        floor_runs_s=[round(floor_first, 3), round(floor_second, 3)],
        floor="bare INSERT ... SELECT of the same rows into the same table",
        ratio=round(ratio, 3),
        rows=result.created,
    )
    emit("materialise", "ratio to bare INSERT ... SELECT", ratio, "x", target="<= 2", ok=ratio <= 2)
    campaign.delete()


if __name__ == "__main__":
    main()
