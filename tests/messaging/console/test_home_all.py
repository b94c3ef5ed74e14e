"""The front page for "All talents": totals over every talent the user may view, each talent's
home figures in a row, never the first twenty only (issue 12 §1)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.console import home_all
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def test_all_talents_home_totals_every_talent_and_pages_the_rows(client, personas, monkeypatch):
    now = timezone.now()
    for _ in range(2):
        create_fan(personas.talent, joined_at=now)
    create_fan(personas.other_talent, joined_at=now)
    monkeypatch.setattr(home_all, "ROWS_PER_PAGE", 1)  # one talent a page: the totals still cover both
    client.force_login(personas.superuser)

    page = client.get("/admin/?talents_page=2")
    assert page.status_code == 200
    overview = page.context["all"]
    assert overview.talents >= 2 and overview.page == 2 and len(overview.rows) == 1
    # Nova: Fiona + 2 new; Rival: Gus + 1 new (and any talent the fixtures add): every talent counts.
    assert overview.members >= 5 and overview.joins >= 5
    members = sum(home_all.home_figures(t).members for t in home_all.viewable_talents(personas.superuser))
    assert overview.members == members
    html = page.content.decode()
    assert "All talents at a glance" in html and 'id="fc-all-members"' in html
    assert "Page 2 of" in html and "?talents_page=1" in html

    # A manager of one talent with "All talents" is never shown: their home is the talent's.
    client.force_login(personas.manager)
    assert "All talents at a glance" not in client.get("/admin/").content.decode()
    assert [t.slug for t in home_all.viewable_talents(personas.manager)] == [personas.talent.slug]
