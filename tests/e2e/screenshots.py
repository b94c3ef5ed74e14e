"""`make screenshots`: the main pages at a laptop's and a phone's size, into docs/screenshots/.

Not collected by the suite (no test_ prefix): make runs this file on its own, on a throwaway SQLite
database filled by `seed_demo`, signed in as the demo owner. Tests that take screenshots write them
to tests/e2e/screenshots/ (ignored); only this command writes the ones the README shows.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.management.commands.seed_demo import DEMO_SLUG, OWNER_PASSWORD, OWNER_USERNAME
from tests.e2e.conftest import VIEWPORTS, _page, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
OUT = Path(os.environ.get("SCREENSHOTS_DIR", Path(__file__).resolve().parents[2] / "docs" / "screenshots"))

# (file name, URL name or path, args): the console's main pages and the fan's.
PAGES = [
    ("console-home", "admin:index", None),
    ("campaigns", "admin:messaging_campaign_changelist", None),
    ("fans", "admin:accounts_fan_changelist", None),
    ("segments", "admin:messaging_segment_changelist", None),
    ("inbox", "admin:messaging_conversation_changelist", None),
    ("team", "admin:accounts_teammember_changelist", None),
    ("join", "accounts:join", [DEMO_SLUG]),
]


def _url(name: str, args) -> str:
    try:
        return reverse(name, args=args)
    except Exception:  # noqa: BLE001 - a page renamed by a later change: skip it, say which
        return ""


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_screenshots(live_server, browser, viewport):
    call_command("seed_demo", verbosity=0)
    OUT.mkdir(parents=True, exist_ok=True)
    page = _page(browser, viewport)
    sign_in(page, live_server, OWNER_USERNAME, OWNER_PASSWORD)
    taken = []
    for name, url_name, args in PAGES:
        path = _url(url_name, args)
        if not path:
            print(f"screenshots: no page {url_name!r}, skipped")
            continue
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
        page.wait_for_load_state("networkidle")
        target = OUT / f"{name}-{viewport}.png"
        page.screenshot(path=str(target), full_page=False)
        taken.append(target.name)
    print(f"screenshots: {', '.join(taken)} in {OUT}")
    assert len(taken) >= 5
