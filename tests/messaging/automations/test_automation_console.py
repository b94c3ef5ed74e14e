"""The console's keyword and drop pages (issue 14): form errors, scoping, share/QR, tests, codes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from messaging.automations.drop_models import Drop, DropCode
from messaging.automations.keyword_models import Keyword
from messaging.models import Campaign, ExportAudit, OutboundMessage
from tests.accounts.join_support import committing

pytestmark = pytest.mark.django_db


def _keyword_post(talent, **fields):
    data = {
        "talent": talent.pk,
        "word": "Tour",
        "aliases": "",
        "reply": "Dates: nova.example.com/tour",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "capacity": "",
        "full_reply": "",
    }
    data.update(fields)
    return data


@pytest.mark.parametrize("word", ["STOP", "help", "Start", "MYDATA"])
def test_a_reserved_word_is_a_form_error_not_a_keyword(client, personas, word):
    client.force_login(personas.manager)
    response = client.post(reverse("admin:messaging_keyword_add"), _keyword_post(personas.talent, word=word))
    assert response.status_code == 200
    assert "platform&#x27;s own words" in response.content.decode()
    assert not Keyword.objects.exists()


def test_a_keyword_is_created_normalised_and_its_page_shares_it(client, personas, sms_outbox):
    client.force_login(personas.manager)
    response = client.post(
        reverse("admin:messaging_keyword_add"), _keyword_post(personas.talent, word="  TOUR ", aliases="Tours,  GIRA")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    keyword = Keyword.objects.get()
    assert (keyword.word, keyword.aliases, keyword.talent) == ("tour", "tours, gira", personas.talent)
    html = client.get(reverse("admin:messaging_keyword_change", args=[keyword.pk])).content.decode()
    assert f"sms:{personas.talent.sender_number}?&amp;body=TOUR" in html
    assert "<svg" in html and "Play as a fan" in html and "Dates: nova.example.com/tour" in html
    assert sms_outbox == [] and not OutboundMessage.objects.exists()  # the preview sent nothing


def test_send_to_me_without_a_number_is_a_clear_error_then_sends(client, personas, sms_outbox):
    keyword = Keyword.objects.create(talent=personas.talent, word="tour", reply="Dates!")
    client.force_login(personas.manager)
    url = reverse("admin:messaging_keyword_send_to_me", args=[keyword.pk])
    page = client.post(url, {"phone": ""}, follow=True).content.decode()
    assert "We do not know your phone number" in page
    committing(client.post, url, {"phone": "+14155550199"})
    assert [m.body for m in sms_outbox] == ["[TEST] Dates!"]
    # The number is remembered: the next "send to me" needs no typing.
    committing(client.post, url, {"phone": ""})
    assert len(sms_outbox) == 2


def test_another_talents_keyword_and_drop_answer_404(client, personas):
    keyword = Keyword.objects.create(talent=personas.other_talent, word="tour", reply="x")
    client.force_login(personas.manager)
    assert client.get(reverse("admin:messaging_keyword_change", args=[keyword.pk])).status_code == 404
    assert client.post(reverse("admin:messaging_keyword_send_to_me", args=[keyword.pk])).status_code == 404


def test_an_agent_may_not_edit_keywords(client, personas):
    keyword = Keyword.objects.create(talent=personas.talent, word="tour", reply="x")
    client.force_login(personas.agent)
    assert client.post(reverse("admin:messaging_keyword_send_to_me", args=[keyword.pk])).status_code == 403
    assert client.post(reverse("admin:messaging_keyword_add"), _keyword_post(personas.talent)).status_code == 403


def _drop_post(talent, **fields):
    release = (timezone.now() + dt.timedelta(days=2)).astimezone(talent.tz)
    data = {
        "talent": talent.pk,
        "name": "Presale",
        "confirmation": "You're in. Code: {code}",
        "release_text": "Presale open: nova.example.com",
        "release_at_0": release.strftime("%Y-%m-%d"),
        "release_at_1": release.strftime("%H:%M"),
        "release_zone": "talent",
        "made_it": "You made it!",
        "capacity": "",
        "full_text": "",
        "fallback_text": "",
    }
    data.update(fields)
    return data


def test_a_drop_is_created_with_its_release_campaign_and_refuses_unknown_fields(client, personas):
    client.force_login(personas.manager)
    url = reverse("admin:messaging_drop_add")
    bad = client.post(url, _drop_post(personas.talent, release_text="Code {codes}", waitlist="on"))
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "{codes} is not a merge field" in html and "A waitlist needs a capacity." in html
    response = client.post(url, _drop_post(personas.talent))
    assert response.status_code == 302, response.content.decode()[:3000]
    drop = Drop.objects.get()
    assert drop.campaign.status == Campaign.Status.SCHEDULED
    page = client.get(reverse("admin:messaging_drop_change", args=[drop.pk])).content.decode()
    assert "Play as a fan" in page and "Upload codes" in page


def test_codes_upload_and_the_audited_export(client, personas):
    client.force_login(personas.manager)
    client.post(reverse("admin:messaging_drop_add"), _drop_post(personas.talent))
    drop = Drop.objects.get()
    upload = SimpleUploadedFile("codes.csv", b"code\nA1\nB2\n", content_type="text/csv")
    page = client.post(reverse("admin:messaging_drop_codes", args=[drop.pk]), {"codes": upload}, follow=True)
    assert "2 codes added" in page.content.decode()
    bad = SimpleUploadedFile("codes.csv", b"\xff\xfe", content_type="text/csv")
    page = client.post(reverse("admin:messaging_drop_codes", args=[drop.pk]), {"codes": bad}, follow=True)
    assert "not a UTF-8 CSV" in page.content.decode()
    assert DropCode.objects.count() == 2
    export = reverse("admin:messaging_drop_codes_export", args=[drop.pk])
    assert client.get(export).status_code == 403  # a manager composes; exports are for owners and analysts
    client.force_login(personas.owner)
    response = client.get(export)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content).decode().startswith("code,phone")
    assert ExportAudit.objects.get().completed


def test_pause_and_resume_a_drop(client, personas):
    client.force_login(personas.manager)
    client.post(reverse("admin:messaging_drop_add"), _drop_post(personas.talent))
    drop = Drop.objects.get()
    client.post(reverse("admin:messaging_drop_pause", args=[drop.pk]), {"paused": "1"})
    drop.refresh_from_db()
    assert drop.is_paused and drop.campaign.status == Campaign.Status.PAUSED
    client.post(reverse("admin:messaging_drop_pause", args=[drop.pk]), {"paused": "0"})
    drop.refresh_from_db()
    assert not drop.is_paused and drop.campaign.status == Campaign.Status.SCHEDULED


def test_the_sidebar_has_an_automations_group(client, personas):
    client.force_login(personas.manager)
    html = client.get(reverse("admin:index")).content.decode()
    assert "Automations" in html
    assert reverse("admin:messaging_keyword_changelist") in html and reverse("admin:messaging_drop_changelist") in html
