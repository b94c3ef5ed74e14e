"""The console's big tables over 1,000,000 rows on PostgreSQL: each changelist under 0.3 s.

Fans (default, a phone typed as (415) 555-2671, a name, each filter), sent texts, received texts
(the inbox's list) and consent records, each with 1,000,000 rows of one talent, rendered through
Django's test client as a signed-in manager (the whole request: middleware, queries, template).
Each figure is the best of three requests after one warm-up. Floor, measured in the same run:
the admin index page (a console page with no table), what every page costs at least.

    DATABASE_URL=postgres://... python -m bench.bench_tables [--rows N]
"""

from __future__ import annotations

import argparse
import os
import time

from bench.common import emit, ensure_fans, ensure_talent, setup_django

BENCH = "tables"
ROWS = int(os.environ.get("BENCH_FANS", "1000000"))
TARGET = 0.3
SLUG = "bench-tables"


# Each table's filler: one row per fan, from the fans themselves (INSERT ... SELECT).
FILLS = {
    "messaging_outboundmessage": (
        "INSERT INTO messaging_outboundmessage (talent_id, fan_id, kind, to_number, body, media_url, status, "
        "error_code, error_message, segments, attempts, lane, created_at, updated_at) "
        "SELECT talent_id, id, 'system', phone, 'Thanks for joining!', '', 'delivered', '', '', 1, 1, 1, "
        "now() - (id %% 100000) * interval '1 minute', now() FROM accounts_fan WHERE talent_id = %s "
        "ORDER BY id LIMIT %s"
    ),
    "messaging_inboundmessage": (
        "INSERT INTO messaging_inboundmessage (talent_id, fan_id, message_sid, from_number, to_number, body, "
        "payload, received_at, action, needs_reply) "
        "SELECT talent_id, id, 'SMbench' || id, phone, '+15550000000', 'hello', '{}', "
        "now() - (id %% 100000) * interval '1 minute', 'inbox', (id %% 50 = 0) FROM accounts_fan "
        "WHERE talent_id = %s ORDER BY id LIMIT %s"
    ),
    "consent_consentrecord": (
        "INSERT INTO consent_consentrecord (fan_id, talent_id, purpose, action, method, disclosure, "
        "user_agent, evidence, created_at) "
        "SELECT id, talent_id, 'messaging', 'granted', 'web_form', 'Recurring texts', '', '', "
        "now() - (id %% 100000) * interval '1 minute' FROM accounts_fan WHERE talent_id = %s "
        "ORDER BY id LIMIT %s"
    ),
}


def fill(talent_id: int, rows: int) -> None:
    """One sent text, one received text and one consent record per fan, in SQL (seconds, not minutes)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table, insert in FILLS.items():
            cursor.execute(f"SELECT count(*) FROM {table} WHERE talent_id = %s", [talent_id])
            if cursor.fetchone()[0] < rows:
                cursor.execute(insert, [talent_id, rows])
        cursor.execute("ANALYZE")


class SqlTimer:
    """Time spent in the database during a request (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.seconds, self.count = 0.0, 0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    from accounts.models import Fan, TeamMember

    talent = ensure_talent(SLUG)
    ensure_fans(SLUG, args.rows)
    # A fan to find by phone, whatever the generator made.
    Fan.objects.get_or_create(
        talent=talent, phone="+14155552671", defaults={"first_name": "Paula", "last_name": "Quinn", "status": "active"}
    )
    fill(talent.pk, args.rows)
    user, _ = get_user_model().objects.get_or_create(username="bench-tables", defaults={"is_staff": True})
    TeamMember.objects.get_or_create(user=user, talent=talent, defaults={"role": TeamMember.Role.MANAGER})
    from messaging.models import ContactList, Tag

    vip, _ = ContactList.objects.get_or_create(talent=talent, name="VIP")
    tag, _ = Tag.objects.get_or_create(talent=talent, name="presale")

    pages = {
        "admin_index (floor)": "/admin/",
        "fans": "/admin/accounts/fan/",
        "fans_search_phone": "/admin/accounts/fan/?q=(415)+555-2671",
        "fans_search_name": "/admin/accounts/fan/?q=Olivia",
        "fans_search_email": "/admin/accounts/fan/?q=olivia.s",
        "fans_status_opted_out": "/admin/accounts/fan/?status__exact=opted_out",
        "fans_list": f"/admin/accounts/fan/?list={vip.pk}",
        "fans_tag": f"/admin/accounts/fan/?tag={tag.pk}",
        "fans_country": "/admin/accounts/fan/?country=CA",
        "fans_region": "/admin/accounts/fan/?region=TX",
        "fans_joined_30d": "/admin/accounts/fan/?joined=30",
        "fans_engagement_replied": "/admin/accounts/fan/?engagement=replied",
        "sent_texts": "/admin/messaging/outboundmessage/",
        "sent_texts_status": "/admin/messaging/outboundmessage/?status__exact=delivered",
        "received_texts": "/admin/messaging/inboundmessage/",
        "inbox_needs_reply": "/admin/messaging/inboundmessage/?needs_reply__exact=1",
        "consent_records": "/admin/consent/consentrecord/",
        "consent_records_method": "/admin/consent/consentrecord/?method__exact=web_form",
    }
    from django.conf import settings

    # DEBUG=false serves hashed static names from collectstatic's manifest, which a benchmark run
    # does not build (the console's favicon then raised "Missing staticfiles manifest entry"):
    # plain static storage, as bench_home does (the URLs do not change the work measured).
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(ALLOWED_HOSTS=["*"], DEBUG=False, STORAGES=storages):
        client = Client()
        client.force_login(user)
        for name, url in pages.items():
            client.get(url)  # warm-up: caches, plans
            best, best_sql, queries = float("inf"), float("inf"), 0
            for _ in range(3):
                sql = SqlTimer()
                with connection.execute_wrapper(sql):
                    start = time.perf_counter()
                    response = client.get(url)
                    elapsed = time.perf_counter() - start
                best, best_sql, queries = min(best, elapsed), min(best_sql, sql.seconds), sql.count
            assert response.status_code == 200, (url, response.status_code)
            floor = name.endswith("(floor)")
            emit(
                BENCH,
                name,
                best,
                "s",
                target="" if floor else f"< {TARGET} s",
                ok=None if floor else best < TARGET,
                sql_s=round(best_sql, 4),
                queries=queries,
                rows=args.rows,
                url=url,
            )


if __name__ == "__main__":
    main()
