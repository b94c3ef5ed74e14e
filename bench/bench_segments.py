"""Segment counts over 1,000,000 fans on PostgreSQL: each indexed criterion must answer in < 1 s.

Floor, measured in the same run: SELECT count(*) of all the talent's fans (the cheapest full
answer). Each figure is the best of three runs of segment_queryset(segment).count().

    DATABASE_URL=postgres://... python -m bench.bench_segments [--fans N]
"""

from __future__ import annotations

import argparse
import os

from bench.common import best_of, emit, ensure_fans, ensure_talent, setup_django

BENCH = "segments"
FANS = int(os.environ.get("BENCH_FANS", "1000000"))

CASES = {
    "all_builtin": None,
    "country": {"field": "country", "value": ["CA"]},
    "country_region": {"all": [{"field": "country", "value": ["US"]}, {"field": "region", "value": ["TX"]}]},
    "postal_prefix": {"field": "postal_code", "op": "starts_with", "value": "123"},
    "time_zone": {"field": "time_zone", "value": ["Europe/London"]},
    "age_range": {"field": "age", "op": "between", "value": {"min": 18, "max": 30}},
    "joined_after": {"field": "joined_at", "op": "after", "value": "2025-10-01"},
    "status": {"field": "status", "value": ["opted_out", "pending"]},
    "replied_365d": {"field": "engagement", "op": "replied_within", "value": 365},
    "never_messaged": {"field": "engagement", "op": "never_messaged"},
    "partner_consent": {"field": "shares_with_partners", "op": "is", "value": True},
    "and_or_not": {
        "all": [
            {"any": [{"field": "country", "value": ["US"]}, {"field": "time_zone", "value": ["America/Toronto"]}]},
            {"not": {"field": "source", "value": ["web"]}},
            {"field": "age", "op": "between", "value": {"min": 21}},
        ]
    },
    "in_list": "list",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fans", type=int, default=FANS)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from accounts.models import Fan
    from messaging.audience.services import contact_list_add_fans, segment_queryset
    from messaging.models import ContactList, Segment

    ensure_fans("bench-audience", args.fans)
    talent = ensure_talent("bench-audience")
    talent_id = talent.pk
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE accounts_fan")  # fresh statistics and visibility map, as in production
    floor, total = best_of(lambda: Fan.objects.filter(talent_id=talent_id).count())
    emit(BENCH, "floor_count_all_fans", floor, "s", target="reference", fans=total)

    vip, created = ContactList.objects.get_or_create(talent=talent, name="bench-vip")
    if created:  # the first 100,000 fans by id
        first = Fan.objects.filter(talent=talent).order_by("id").values("id")[:100_000]
        contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(id__in=first))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_contactlistmember")
    # A prefix that exists in the generated data (its postal codes vary by country).
    sample = Fan.objects.filter(talent=talent).exclude(postal_code="").values_list("postal_code", flat=True)[:1]
    CASES["postal_prefix"]["value"] = (sample[0] if sample else "1")[:3]
    for name, definition in CASES.items():
        if definition is None:
            segment = Segment.objects.get(talent=talent, is_builtin=True)
        else:
            if definition == "list":
                definition = {"field": "list", "value": [vip.pk]}
            segment, _ = Segment.objects.update_or_create(
                talent=talent, name=f"bench-{name}", defaults={"definition": definition}
            )
        seconds, count = best_of(lambda s=segment: segment_queryset(s).count())
        emit(BENCH, f"count_{name}", seconds, "s", target="< 1 s over 1,000,000 fans", ok=seconds < 1.0, matched=count)


if __name__ == "__main__":
    main()
