"""The fan's drops on /me/ (issue 14 §3): the drops they may join, with Join buttons that are plain
forms to the drop's page (no JavaScript), and the drops they joined, with their code once the
release went out. Only this talent's drops, only this fan's code."""

from __future__ import annotations

import datetime as dt
import html
import re
import time

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import Fan
from accounts.views import ME_KEY, ME_UNTIL_KEY
from messaging.automations.drop_models import Drop, DropCode, DropEntry
from messaging.automations.drops import drop_codes_upload, drop_join, drop_save, drop_set_paused
from messaging.models import Campaign
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def _drop(personas, name: str, talent=None, **fields) -> Drop:
    values = {
        "talent": talent or personas.talent,
        "name": name,
        "confirmation": "You're in. Code: {code}",
        "release_text": "The presale is open.",
        "release_at": timezone.now() + dt.timedelta(days=2),
        "made_it": "You made it: {code}",
    }
    values.update(fields)
    return drop_save(drop=Drop(**values), actor=personas.manager if talent is None else personas.other_manager)


def _me(client, fan) -> str:
    session = client.session
    session[ME_KEY], session[ME_UNTIL_KEY] = fan.pk, time.time() + 600
    session.save()
    response = client.get(reverse("accounts:me"))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _section(page: str) -> str:
    found = re.search(r'<section aria-labelledby="drops-heading">(.*?)</section>', page, re.S)
    return found.group(1) if found else ""


def test_open_drops_are_listed_with_join_forms_and_joining_moves_them_to_joined(client, personas, sms_outbox):
    presale = _drop(personas, "Tour presale")
    paused = _drop(personas, "Paused one")
    drop_set_paused(drop=paused, paused=True, actor=personas.manager)
    full = _drop(personas, "Full, no waitlist", capacity=0)
    waitlisted = _drop(personas, "Full, waitlist", capacity=0, waitlist=True)
    old = _drop(personas, "Last year")
    Drop.objects.filter(pk=old.pk).update(release_at=timezone.now() - dt.timedelta(days=30))
    _drop(personas, "Rival drop", talent=personas.other_talent)
    assert full.pk and waitlisted.pk

    section = _section(_me(client, personas.fan))
    assert "<script" not in section
    assert "Join Tour presale" in section and "Join the waitlist for Full, waitlist" in section
    for hidden in ("Paused one", "Full, no waitlist", "Last year", "Rival drop"):
        assert hidden not in section, hidden
    # A plain form to the drop's own page, with the CSRF token, on the fan's clock with its zone.
    action = reverse("messaging:drop", args=[personas.talent.slug, presale.pk])
    assert f'<form method="post" action="{action}">' in section and "csrfmiddlewaretoken" in section
    local = presale.release_at.astimezone(personas.fan.tz)
    assert local.strftime("%H:%M ") + local.tzname() in section

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(action).status_code == 200  # what the Join button does
    assert DropEntry.objects.filter(drop=presale, fan=personas.fan, status=DropEntry.Status.ENTERED).exists()
    assert [m.body for m in sms_outbox] == ["You're in. Code: "]  # this drop has no codes
    section = _section(_me(client, personas.fan))
    joined, _, still_open = section.partition("Open to join")
    assert "Tour presale" in joined and "you're in" in joined and "Join Tour presale" not in section
    assert "Full, waitlist" in still_open


def test_the_code_shows_once_the_release_went_out_and_only_the_fans_own(client, personas):
    drop = _drop(personas, "Presale")
    drop_codes_upload(drop=drop, data=b"MINE-1\nTHEIRS-2\n", actor=personas.manager)
    other = create_fan(personas.talent, "+14155550190")
    drop_join(drop=drop, fan=personas.fan)
    drop_join(drop=drop, fan=other)
    assert DropCode.objects.get(fan=personas.fan).code == "MINE-1"
    section = _section(_me(client, personas.fan))
    assert "you're in" in section and "MINE-1" not in section  # not before the release
    Campaign.objects.filter(pk=drop.campaign_id).update(started_at=timezone.now())
    section = _section(_me(client, personas.fan))
    assert "Your code: <strong>MINE-1</strong>" in section and "THEIRS-2" not in section


def test_a_waitlisted_fan_sees_it_and_an_opted_out_fan_gets_no_join_buttons(client, personas):
    waitlisted = _drop(personas, "Small room", capacity=0, waitlist=True)
    _drop(personas, "Open room")
    drop_join(drop=waitlisted, fan=personas.fan)
    section = _section(_me(client, personas.fan))
    assert "Small room" in section and "waitlist" in section.partition("Open to join")[0]
    assert "Join Open room" in section
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.OPTED_OUT)
    section = _section(_me(client, personas.fan))
    assert "Small room" in section and "Open room" not in section and "<form" not in section


def test_a_talent_without_drops_shows_no_section(client, personas):
    assert 'aria-labelledby="drops-heading"' not in _me(client, personas.fan)
