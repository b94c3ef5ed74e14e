"""The Inbox at scale on PostgreSQL: folders, counts and search with BENCH_INBOX_TEXTS inbound texts
(default 1,000,000) and BENCH_INBOX_OPEN open conversations (default 100,000). Target: each under
300 ms (issue 13).

Data (generated once, set-based SQL; re-runs reuse it): BENCH_INBOX_OPEN * 1.5 synthetic fans,
one conversation each (two thirds open, a third assigned to one of five agents; the rest done,
waiting on the fan or snoozed), and the texts spread over those fans with bodies drawn from a
small vocabulary plus one rare word per 10,000 texts.

Figures are the best of three runs: the folder counts (capped counts per folder, unread too), a
first page of each folder, a page 5,000 rows deep (keyset), searches (a common word, a rare word,
a name, a phone number typed with punctuation), a filter (waiting longer than 24 h), and the whole
inbox and conversation pages through Django's request cycle (templates included). Floors: the
first 50 conversations by primary key (no inbox logic), and another console changelist (sent
texts) through the same client, which is what any console page costs on this machine.

    DATABASE_URL=postgres://... python -m bench.bench_inbox
"""

from __future__ import annotations

import os

from bench.common import best_of, emit, ensure_fans, ensure_talent, setup_django, timed

BENCH = "inbox"
TEXTS = int(os.environ.get("BENCH_INBOX_TEXTS", "1000000"))
OPEN = int(os.environ.get("BENCH_INBOX_OPEN", "100000"))
TARGET = 0.3
WORDS = (
    "love tickets show tour when where merch song new album thanks amazing please city concert date "
    "vip signed poster hello hey omg best night ever again soon come back europe dates sold out live "
    "stream video dance friends birthday shoutout meet greet question refund order shipping size"
).split()


def _generate(talent, agents, fans: int, texts: int, open_n: int) -> None:
    from django.db import connection

    from messaging.models import Conversation, InboundMessage

    have_conv = Conversation.objects.filter(talent=talent).count()
    have_texts = InboundMessage.objects.filter(talent=talent).count()
    with connection.cursor() as cursor:
        if have_conv < fans:
            Conversation.objects.filter(talent=talent).delete()
            cursor.execute(
                """
                INSERT INTO messaging_conversation
                  (talent_id, fan_id, status, assignee_id, waiting_since, last_message_at, last_inbound_at,
                   unread_team, unread_assignee, has_media, blocked, created_at, updated_at)
                SELECT %(t)s, f.id,
                  CASE WHEN f.rn <= %(open)s THEN 'open'
                       ELSE (ARRAY['done', 'pending', 'snoozed'])[1 + f.rn %% 3] END,
                  CASE WHEN f.rn %% 3 = 0 THEN (%(agents)s::int[])[1 + f.rn %% 5] END,
                  CASE WHEN f.rn <= %(open)s THEN now() - (f.rn %% 4000) * interval '1 minute' END,
                  now() - f.rn * interval '3 seconds', now() - f.rn * interval '3 seconds',
                  f.rn %% 4 = 0, f.rn %% 12 = 0, f.rn %% 50 = 0, false, now(), now()
                FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM accounts_fan WHERE talent_id = %(t)s) f
                WHERE f.rn <= %(fans)s
                """,
                {"t": talent.pk, "open": open_n, "agents": [a.pk for a in agents], "fans": fans},
            )
            cursor.execute(
                "UPDATE messaging_conversation SET snoozed_until = now() + interval '1 day' "
                "WHERE talent_id = %s AND status = 'snoozed'",
                [talent.pk],
            )
        if have_texts < texts:
            InboundMessage.objects.filter(talent=talent).delete()
            # Numbered fans in a table joined by number: indexing a 150,000-element array per row
            # detoasts the whole array each time (what made a first attempt crawl).
            cursor.execute(
                "CREATE TEMP TABLE bench_fan_n AS SELECT row_number() OVER (ORDER BY fan.id) - 1 AS n, "
                "fan.id, fan.phone FROM accounts_fan fan JOIN messaging_conversation c ON c.fan_id = fan.id "
                "WHERE c.talent_id = %s",
                [talent.pk],
            )
            cursor.execute("ALTER TABLE bench_fan_n ADD PRIMARY KEY (n)")
            cursor.execute("SELECT count(*) FROM bench_fan_n")
            fan_count = cursor.fetchone()[0]
            # A bulk load builds the full-text index once at the end instead of row by row (the
            # same expression as migration 0009).
            cursor.execute("DROP INDEX IF EXISTS inbound_body_fts")
            cursor.execute(
                """
                INSERT INTO messaging_inboundmessage
                  (talent_id, fan_id, message_sid, from_number, to_number, body, payload, received_at,
                   processed_at, action, needs_reply)
                SELECT %(t)s, f.id, 'SMbenchinbox' || g, f.phone, '+15550000000',
                  (%(words)s::text[])[1 + (g * 31) %% %(nw)s] || ' ' || (%(words)s::text[])[1 + (g * 17) %% %(nw)s]
                    || ' ' || (%(words)s::text[])[1 + (g * 13) %% %(nw)s]
                    || CASE WHEN g %% 10000 = 0 THEN ' zanzibarish' ELSE '' END,
                  '{}'::jsonb, now() - g * interval '1 second', now(), 'inbox', false
                FROM generate_series(1, %(n)s) g JOIN bench_fan_n f ON f.n = (g::bigint * 7919) %% %(fans)s
                """,
                {"t": talent.pk, "words": WORDS, "nw": len(WORDS), "n": texts, "fans": fan_count},
            )
            cursor.execute(
                "CREATE INDEX inbound_body_fts ON messaging_inboundmessage "
                "USING gin (to_tsvector('simple'::regconfig, COALESCE(body, '')))"
            )
            cursor.execute("DROP TABLE bench_fan_n")
            cursor.execute(
                "UPDATE messaging_conversation c SET last_inbound_id = m.last FROM "
                "(SELECT fan_id, max(id) AS last FROM messaging_inboundmessage WHERE talent_id = %s GROUP BY fan_id) m "
                "WHERE c.fan_id = m.fan_id",
                [talent.pk],
            )
        cursor.execute("VACUUM ANALYZE messaging_conversation")
        cursor.execute("VACUUM ANALYZE messaging_inboundmessage")
        cursor.execute("VACUUM ANALYZE accounts_fan")


def main() -> None:
    setup_django()
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from accounts.models import Fan, TeamMember
    from messaging.conversations import inbox
    from messaging.models import Conversation, InboundMessage
    from tests.factories import create_user

    fans = OPEN * 3 // 2
    ensure_fans("bench-inbox", fans)
    talent = ensure_talent("bench-inbox")
    agents = []
    for n in range(5):
        member = (
            TeamMember.objects.filter(talent=talent, user__username=f"bench-agent{n}").select_related("user").first()
        )
        if member is None:
            member = TeamMember.objects.create(talent=talent, user=create_user(f"bench-agent{n}"), role="agent")
        agents.append(member.user)
    with timed() as generation:
        _generate(talent, agents, fans, TEXTS, OPEN)
    ids = {talent.pk}
    me = agents[0]
    emit(
        BENCH,
        "data",
        generation(),
        "s",
        target="reference",
        texts=InboundMessage.objects.filter(talent=talent).count(),
        open=Conversation.objects.filter(talent=talent, status="open").count(),
        conversations=Conversation.objects.filter(talent=talent).count(),
    )

    floor, _ = best_of(lambda: list(Conversation.objects.filter(talent=talent).order_by("id")[:50]))
    emit(BENCH, "floor_first_50_by_id", floor, "s", target="reference")

    seconds, counts = best_of(lambda: inbox.folder_counts(talent_ids=ids, user=me))
    emit(
        BENCH,
        "folder_counts_all",
        seconds,
        "s",
        target=f"< {TARGET}",
        ok=seconds < TARGET,
        counts={c.key: [c.total_text, c.unread_text] for c in counts},
    )
    seconds, _ = best_of(lambda: inbox.unread_for(talent_ids=ids, user=me))
    emit(BENCH, "unread_for_tab_title", seconds, "s", target=f"< {TARGET}", ok=seconds < TARGET)
    for key, _title in inbox.FOLDERS:
        qs = inbox.folder_queryset(key, talent_ids=ids, user=me)
        seconds, (rows, _cursor) = best_of(lambda qs=qs: inbox.page(qs))
        emit(BENCH, f"page_{key}", seconds, "s", target=f"< {TARGET}", ok=seconds < TARGET, rows=len(rows))

    qs = inbox.folder_queryset("open", talent_ids=ids, user=me)
    deep = qs.order_by("-last_message_at", "-id")[min(5000, OPEN // 2)]
    seconds, (rows, _cursor) = best_of(lambda: inbox.page(qs, after=inbox.cursor_of(deep)))
    emit(BENCH, "page_open_5000_deep", seconds, "s", target=f"< {TARGET}", ok=seconds < TARGET, rows=len(rows))

    fan = Fan.objects.filter(conversations__talent=talent, conversations__status="open").order_by("id").first()
    phone = str(fan.phone)
    typed = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}" if phone.startswith("+1") and len(phone) == 12 else phone
    searches = {
        "search_common_word": "tickets",
        "search_rare_word": "zanzibarish",
        "search_two_words": "vip poster",
        "search_name": fan.first_name or "Fan",
        "search_phone_typed": typed,
        "search_no_match": "xylophonequest",
    }
    for figure, query in searches.items():
        filters = inbox.Filters(q=query)

        def run(filters=filters):
            found = inbox.apply_filters(
                inbox.folder_queryset("open", talent_ids=ids, user=me), filters, talent_ids=ids, folder="open", user=me
            )
            return inbox.page(found)

        seconds, (rows, _cursor) = best_of(run)
        emit(BENCH, figure, seconds, "s", target=f"< {TARGET}", ok=seconds < TARGET, rows=len(rows), query=query)

    waiting = inbox.Filters(waiting_hours=24)
    seconds, (rows, _cursor) = best_of(
        lambda: inbox.page(
            inbox.apply_filters(
                inbox.folder_queryset("open", talent_ids=ids, user=me), waiting, talent_ids=ids, folder="open", user=me
            )
        )
    )
    emit(BENCH, "filter_waiting_24h", seconds, "s", target=f"< {TARGET}", ok=seconds < TARGET, rows=len(rows))

    # The whole page, as a member sees it: session, permissions, counts, page, template.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # No collectstatic here: the plain storage names static files without the manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client = Client()
    client.force_login(me)
    url = reverse("admin:messaging_conversation_changelist")
    for figure, params in (("http_inbox_unassigned", {}), ("http_inbox_search", {"folder": "open", "q": "tickets"})):

        def get(params=params):
            response = client.get(url, params, secure=True)
            assert response.status_code == 200, response.status_code
            return response

        seconds, _ = best_of(get)
        emit(BENCH, figure, seconds, "s", target="reference (whole page; see the floor)")
    # The console's own floor: another changelist of 50 rows (sent texts), same session and menu.
    floor_url = reverse("admin:messaging_outboundmessage_changelist")
    seconds, _ = best_of(lambda: client.get(floor_url, secure=True))
    emit(BENCH, "http_floor_sent_texts_page", seconds, "s", target="reference")
    conversation = Conversation.objects.filter(talent=talent, status="open").order_by("-last_message_at").first()
    page = reverse("admin:messaging_conversation_change", args=[conversation.pk])
    seconds, _ = best_of(lambda: client.get(page, secure=True))
    emit(BENCH, "http_conversation_page", seconds, "s", target="reference (whole page; see the floor)")


if __name__ == "__main__":
    main()
