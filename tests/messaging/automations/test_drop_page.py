"""The fan-facing drop page: a member whose data page is open joins on the web, once; anyone else
is told how to join; the page is the talent's."""

from __future__ import annotations

import datetime as dt
import html
import time

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import Fan
from accounts.views import ME_KEY, ME_UNTIL_KEY
from messaging.automations.drop_models import Drop, DropCode, DropEntry
from messaging.automations.drops import drop_codes_upload, drop_save, drop_set_paused
from messaging.automations.keyword_models import Keyword
from messaging.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def drop(personas):
    made = drop_save(
        drop=Drop(
            talent=personas.talent,
            name="Presale",
            confirmation="You're in. Code: {code}",
            release_text="The presale is open.",
            release_at=timezone.now() + dt.timedelta(days=2),
            made_it="You made it: {code}",
        ),
        actor=personas.manager,
    )
    drop_codes_upload(drop=made, data=b"WEB-1\n", actor=personas.manager)
    Keyword.objects.create(talent=personas.talent, word="presale", drop=made)
    return made


def _open_me(client, fan) -> None:
    session = client.session
    session[ME_KEY], session[ME_UNTIL_KEY] = fan.pk, time.time() + 600
    session.save()


def _url(drop, slug=None) -> str:
    return reverse("messaging:drop", args=[slug or drop.talent.slug, drop.pk])


def test_a_member_joins_on_the_web_once_and_gets_the_confirmation(client, personas, drop, sms_outbox):
    _open_me(client, personas.fan)
    page = client.get(_url(drop)).content.decode()
    assert 'id="join-drop"' in page and "<script" not in page and "Presale" in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        joined = client.post(_url(drop))
    assert joined.status_code == 200 and "You're in!" in html.unescape(joined.content.decode())
    assert [m.body for m in sms_outbox] == ["You're in. Code: WEB-1"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        again = client.post(_url(drop))
    assert "You're already in." in html.unescape(again.content.decode())
    assert (
        len(sms_outbox) == 1
        and DropEntry.objects.count() == 1
        and DropCode.objects.filter(fan__isnull=False).count() == 1
    )


def test_without_an_open_data_page_the_page_says_how_to_join_and_a_post_joins_no_one(client, personas, drop):
    page = client.get(_url(drop)).content.decode()
    assert 'id="join-drop"' not in page and "sms:" in page and "PRESALE" in page
    assert client.post(_url(drop)).status_code == 403
    assert not DropEntry.objects.exists()


def test_the_page_is_the_talents(client, personas, drop):
    assert client.get(_url(drop, slug=personas.other_talent.slug)).status_code == 404  # another talent's address
    _open_me(client, personas.other_fan)  # a member of the other talent
    assert 'id="join-drop"' not in client.get(_url(drop)).content.decode()
    assert client.post(_url(drop)).status_code == 403 and not DropEntry.objects.exists()


def test_an_opted_out_fan_or_a_paused_drop_joins_no_one(client, personas, drop):
    _open_me(client, personas.fan)
    drop_set_paused(drop=drop, paused=True, actor=personas.manager)
    assert client.post(_url(drop)).status_code == 409
    drop_set_paused(drop=drop, paused=False, actor=personas.manager)
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.OPTED_OUT)
    assert client.post(_url(drop)).status_code == 403
    assert not DropEntry.objects.exists() and not OutboundMessage.objects.filter(kind="reply").exists()
