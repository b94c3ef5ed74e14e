"""The v1 API at 1,000,000 fans on PostgreSQL: fan list pages and a fan export through the API,
against the console's export (audience_export) and the COPY floor, measured in the same run.

In-process (Django's test client over the WSGI handler: middleware, auth, throttling, rendering;
no network), with a Bearer token, so the figures are the server's cost per request.

    DATABASE_URL=postgres://... python -m bench.bench_api [--fans N] [--pages N]
"""

from __future__ import annotations

import argparse
import os
import statistics

from bench.common import copy_fans_bytes, emit, ensure_fans, ensure_talent, setup_django, timed

BENCH = "api"
COLUMNS = ["id", "phone", "first_name", "last_name", "email", "country", "region", "postal_code", "joined_at"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fans", type=int, default=int(os.environ.get("BENCH_FANS", "1000000")))
    parser.add_argument("--pages", type=int, default=200, help="list pages of 1,000 to walk")
    args = parser.parse_args()
    os.environ["API_V1_RATE"] = "100000000/60"  # measure the work, not the throttle
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.api_tokens import token_create
    from accounts.models import TeamMember
    from messaging.audience.exports import audience_export
    from messaging.models import Segment

    setup_test_environment()  # the test client's host; nothing else changes for these reads
    ensure_fans("bench-audience", args.fans)
    talent = ensure_talent("bench-audience")
    owner, _ = get_user_model().objects.get_or_create(username="bench-api-owner", defaults={"is_staff": True})
    TeamMember.objects.get_or_create(user=owner, talent=talent, defaults={"role": TeamMember.Role.OWNER})
    _, raw = token_create(
        talent=talent, actor=owner, name="bench", scopes=["fans:read", "audience:read", "exports"], expires_at=None
    )
    segment, _ = Segment.objects.update_or_create(
        talent=talent, name="bench-everyone", defaults={"definition": {"all": []}}
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    # --- the floor: COPY of the same rows and columns ---------------------------------------
    def floor_copy() -> int:
        return copy_fans_bytes(talent.pk, COLUMNS)

    floor_copy()  # warm the cache so every measurement reads the same pages from memory
    with timed() as elapsed:
        floor_bytes = floor_copy()
    floor_s = elapsed()
    emit(BENCH, "floor_copy_to_stdout", floor_s, "s", target="reference", bytes=floor_bytes)

    # --- the console's export (the same service the API calls) -------------------------------
    export = audience_export(
        talent=talent, actor=None, segment=segment, columns=COLUMNS, file_format="csv", via="bench"
    )
    with timed() as elapsed:
        size = sum(len(chunk) for chunk in export.chunks())
    console_s = elapsed()
    emit(
        BENCH, "console_export_csv", console_s, "s", target="reference", ratio=round(console_s / floor_s, 2), bytes=size
    )

    # --- the same export through GET /api/v1/segments/{id}/export/ ----------------------------
    with timed() as elapsed:
        response = client.get(f"/api/v1/segments/{segment.pk}/export/?columns={','.join(COLUMNS)}")
        assert response.status_code == 200, response.content[:300]
        size = sum(len(chunk) for chunk in response.streaming_content)
    api_s = elapsed()
    emit(
        BENCH, "api_export_csv", api_s, "s", target="<= 1.2x console_export_csv",
        ok=api_s <= 1.2 * console_s, ratio_floor=round(api_s / floor_s, 2), ratio_console=round(api_s / console_s, 2), bytes=size,
    )  # fmt: skip

    # --- fan list pages: cursor pagination, 1,000 a page ---------------------------------------
    # A page's latency is the server's answer (client.get); the client's json.loads of the 1,000
    # rows is timed apart: until Dec 2026 it was inside the page figure (~a third of it).
    url = "/api/v1/fans/?page_size=1000"
    latencies = []
    with_parse = []
    rows = 0
    with timed() as elapsed:
        for _ in range(args.pages):
            with timed() as one:
                response = client.get(url)
                served = one()
                body = response.json()
            latencies.append(served)
            with_parse.append(one())
            rows += len(body["results"])
            if not body["next"]:
                break
            url = body["next"]
    walk_s = elapsed()
    emit(BENCH, "api_list_rows_per_s", rows / walk_s, "rows/s", target="informative", pages=len(latencies), rows=rows)
    emit(
        BENCH, "api_list_page_p50", statistics.median(latencies) * 1000, "ms", target="informative (1,000 fans a page)"
    )
    p95 = sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)] * 1000
    emit(BENCH, "api_list_page_p95", p95, "ms", target="< 500 ms", ok=p95 < 500)
    parsed = sorted(with_parse)[max(0, int(len(with_parse) * 0.95) - 1)] * 1000
    emit(
        BENCH, "api_list_page_p95_with_client_parse", parsed, "ms", target="informative (the figure as measured before)"
    )
    whole = args.fans / (rows / walk_s)
    emit(BENCH, "api_list_all_fans_estimate", whole, "s", target="informative", ratio_floor=round(whole / floor_s, 1))
    # A deep page costs what the first does (keyset, no OFFSET): the last fans by id.
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM accounts_fan WHERE talent_id = %s", [talent.pk])
        lowest = cursor.fetchone()[0]
    from base64 import b64encode
    from urllib.parse import quote

    cursor_token = quote(b64encode(f"p={lowest + 1000}".encode()).decode())
    with timed() as elapsed:
        deep = client.get(f"/api/v1/fans/?page_size=1000&cursor={cursor_token}")
    assert deep.status_code == 200
    emit(BENCH, "api_list_deep_page", elapsed() * 1000, "ms", target="about api_list_page_p50 (keyset, no OFFSET)")


if __name__ == "__main__":
    main()
