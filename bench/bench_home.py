"""The console's home page over 1,000,000 fans on PostgreSQL: it must render in < 0.3 s.

What a view costs: the rollup's 60 day rows, today's indexed windows (joins since midnight and since
the member snapshot, opt-outs from the consent log), the inbox index, stored campaign results.
Figures, each the best of three unless noted:
- rollup_first_fill: the task's first run for the talent (60 closed days + the member and region
  snapshot: the only full counts, done by the task, not by a view). Once.
- rollup_steady: the task's run a minute later (nothing due but the check). Best of three.
- home_figures_cold: the figures with an empty cache (today's windows run again).
- home_page_cold / home_page_warm: GET /admin/ as a manager through Django's test client (the whole
  page: menu, header, template), with the cache emptied before each cold run.
Floors, measured in the same run: SELECT count(*) of the talent's active fans (what a naive
"members now" would cost on every view), and GET of the team list, a small page in the same
console shell (what any console page costs before its own content).

    DATABASE_URL=postgres://... python -m bench.bench_home [--fans N]
"""

from __future__ import annotations

import argparse
import os

from bench.common import emit, ensure_fans, ensure_talent, setup_django, timed

BENCH = "home"
FANS = int(os.environ.get("BENCH_FANS", "1000000"))
SLUG = "bench-audience"  # shares its fans with bench_segments (generate_fans is the slow part)
TARGET = 0.3


def best_of(fn, n=3, before=None) -> float:
    best = float("inf")
    for _ in range(n):
        if before:
            before()
        with timed() as elapsed:
            fn()
        best = min(best, elapsed())
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fans", type=int, default=FANS)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment

    from accounts.models import Fan, TeamMember
    from messaging.console import rollup
    from messaging.console.dashboard import home_figures
    from messaging.console.models import DailyFigures

    setup_test_environment()  # the test client's template hooks; no test database is created
    ensure_fans(SLUG, args.fans)
    talent = ensure_talent(SLUG)
    total = Fan.objects.filter(talent=talent).count()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_fan")
    floor = best_of(lambda: Fan.objects.filter(talent=talent, status=Fan.Status.ACTIVE).count())
    emit(BENCH, "floor_count_active_fans", floor, "s", target="reference", fans=total)

    DailyFigures.objects.filter(talent=talent).delete()
    with timed() as elapsed:
        done = rollup.rollup_talent(talent)
    emit(BENCH, "rollup_first_fill", elapsed(), "s", target="once, in the task", days=done["days"])
    steady = best_of(lambda: rollup.rollup_talent(talent))
    emit(BENCH, "rollup_steady", steady, "s", target="< 0.1 s a minute", ok=steady < 0.1)

    cold = best_of(lambda: home_figures(talent), before=cache.clear)
    emit(BENCH, "home_figures_cold", cold, "s", target=f"< {TARGET} s", ok=cold < TARGET, fans=total)

    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-home-manager", defaults={"is_staff": True})
    TeamMember.objects.get_or_create(user=user, talent=talent, defaults={"role": TeamMember.Role.MANAGER})
    # DEBUG=false serves hashed static names from collectstatic's manifest, which a benchmark run
    # does not build: plain static storage for the page (the URLs do not change the work measured).
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200  # the session picks the current talent

    def page() -> None:
        response = client.get("/admin/")
        assert response.status_code == 200 and b"at a glance" in response.content

    page_cold = best_of(page, before=cache.clear)
    emit(BENCH, "home_page_cold", page_cold, "s", target=f"< {TARGET} s", ok=page_cold < TARGET, fans=total)
    page_warm = best_of(page)
    emit(BENCH, "home_page_warm", page_warm, "s", target=f"< {TARGET} s", ok=page_warm < TARGET, fans=total)

    def shell() -> None:  # the same console shell (menu, header, unfold's templates) around a tiny list
        assert client.get("/admin/accounts/teammember/").status_code == 200

    emit(BENCH, "floor_console_shell_page", best_of(shell), "s", target="reference (the team list page)")


if __name__ == "__main__":
    main()
