"""Inbound MMS (issue 13 §3): media metadata from the stored webhook payload, fetched by a task
through the twilio SDK's HTTP client from the sandbox (never Twilio), type and size checked,
stored under MEDIA_ROOT with a random name, served to the talent's team only, deleted with
erasure and by retention, and the inbox's "has media" filter."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from messaging.conversations import media as media_service
from messaging.conversations.models import Conversation, InboundMedia
from messaging.models import InboundMessage
from messaging.privacy.retention import retention_apply
from messaging.privacy.services import fan_data_export, fan_erase
from tests.accounts.join_support import message_sid, text_in
from tests.messaging.sandbox_helpers import sandbox_settings

pytestmark = pytest.mark.django_db

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
S = InboundMedia.Status


@pytest.fixture
def sandbox(tmp_path):
    with sandbox_settings(tmp_path) as url, override_settings(MEDIA_ROOT=tmp_path / "media"):
        yield url


def _serve(sandbox, content_type="image/png", body=PNG, sid=None) -> str:
    sid = sid or message_sid()
    path = sandbox.call(sandbox.sandbox.add_media, sid, "ME" + sid[2:], content_type, body)
    return str(sandbox) + path


def _mms(client, personas, urls_types, body="look!"):
    extra = {"NumMedia": str(len(urls_types))}
    for n, (url, kind) in enumerate(urls_types):
        extra[f"MediaUrl{n}"], extra[f"MediaContentType{n}"] = url, kind
    text_in(client, personas.talent, body, str(personas.fan.phone), **extra)
    return InboundMessage.objects.filter(fan=personas.fan).order_by("-pk").first()


def test_an_mms_is_fetched_from_the_sandbox_and_stored_under_a_random_name(client, personas, sandbox, tmp_path):
    message = _mms(client, personas, [(_serve(sandbox), "image/png")])
    row = InboundMedia.objects.get(message=message)
    assert (row.status, row.size, row.content_type, row.source_url) == (S.STORED, len(PNG), "image/png", "")
    assert row.file.name.startswith(f"inbox-media/{personas.talent.pk}/") and row.file.name.endswith(".png")
    stem = Path(row.file.name).stem
    assert len(stem) >= 32 and str(personas.fan.phone).lstrip("+") not in row.file.name
    assert (tmp_path / "media" / row.file.name).read_bytes() == PNG
    conversation = Conversation.objects.get(fan=personas.fan)
    assert conversation.has_media
    client.force_login(personas.agent)
    inbox = client.get(reverse("admin:messaging_conversation_changelist"), {"folder": "open", "media": "1"})
    assert [c for c, _ in inbox.context["rows"]] == [conversation]
    page = client.get(reverse("admin:messaging_conversation_change", args=[conversation.pk])).content.decode()
    assert reverse("admin:messaging_conversation_media", args=[row.pk]) in page and "<img" in page


def test_only_the_talents_team_gets_the_file(client, personas, sandbox):
    message = _mms(client, personas, [(_serve(sandbox), "image/png")])
    url = reverse("admin:messaging_conversation_media", args=[InboundMedia.objects.get(message=message).pk])
    assert client.get(url).status_code == 302  # not logged in: the login page
    for user, status in (
        (personas.agent, 200),
        (personas.analyst, 200),
        (personas.other_manager, 404),
        (personas.outsider, 404),
    ):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == status, user
    client.force_login(personas.agent)
    response = client.get(url)
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"] and "no-store" in response["Cache-Control"]
    assert client.get(reverse("admin:messaging_conversation_media", args=[999999])).status_code == 404


def test_bad_types_sizes_hosts_and_missing_files_are_refused_without_storing(client, personas, sandbox, monkeypatch):
    monkeypatch.setattr(media_service, "MAX_MEDIA_BYTES", 10)
    message = _mms(
        client,
        personas,
        [
            (_serve(sandbox, "text/html", b"<script>alert(1)</script>"), "text/html"),  # declared type refused
            (_serve(sandbox, "image/png", PNG), "image/png"),  # larger than the (patched) cap
            (_serve(sandbox, "text/html", b"<p>hi</p>"), "image/jpeg"),  # lies about its type
            ("https://attacker.example/steal.png", "image/png"),  # not the provider's host: never fetched
            (str(sandbox) + "/2010-04-01/Accounts/AC/Messages/MMx/Media/MEnone", "image/png"),  # 404
        ],
    )
    rows = list(InboundMedia.objects.filter(message=message).order_by("position"))
    assert [r.status for r in rows] == [S.REFUSED, S.REFUSED, S.REFUSED, S.REFUSED, S.FAILED]
    assert "not accepted" in rows[0].error and "larger than" in rows[1].error
    assert "text/html" in rows[2].error and "provider" in rows[3].error
    assert not any(r.file for r in rows)


def test_without_a_provider_nothing_is_fetched(client, personas, settings):
    settings.TWILIO_API_BASE_URL = ""  # the locmem backend of the tests: no Twilio to ask
    message = _mms(
        client, personas, [("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME", "image/png")]
    )
    row = InboundMedia.objects.get(message=message)
    assert row.status == S.FAILED and "no SMS provider" in row.error


def test_erasure_deletes_rows_and_files_and_the_export_lists_them(client, personas, sandbox, tmp_path):
    message = _mms(client, personas, [(_serve(sandbox), "image/png")])
    row = InboundMedia.objects.get(message=message)
    path = tmp_path / "media" / row.file.name
    exported = fan_data_export(fan=personas.fan)["conversation"]["attachments_you_sent"]
    assert exported == [{"at": row.created_at.isoformat(), "type": "image/png", "bytes": len(PNG), "status": "stored"}]
    with TestCase.captureOnCommitCallbacks(execute=True):
        fan_erase(fan=personas.fan)
    assert not InboundMedia.objects.exists() and not path.exists()


def test_retention_deletes_old_files(client, personas, sandbox, tmp_path):
    message = _mms(client, personas, [(_serve(sandbox), "image/png")])
    row = InboundMedia.objects.get(message=message)
    path = tmp_path / "media" / row.file.name
    retention_apply()
    assert path.exists()  # younger than keep_inbound_media_days
    InboundMedia.objects.filter(pk=row.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    with TestCase.captureOnCommitCallbacks(execute=True):
        report = retention_apply()
    assert report.by_talent[personas.talent.pk]["media_files"] == 1
    assert not InboundMedia.objects.exists() and not path.exists()


def test_a_redelivered_text_or_task_stores_nothing_twice(client, personas, sandbox):
    message = _mms(client, personas, [(_serve(sandbox), "image/png")])
    assert media_service.media_record(message)  # rows built, but ignore_conflicts: none added
    assert InboundMedia.objects.filter(message=message).count() == 1
    assert media_service.media_fetch(message_id=message.pk) == {"stored": 0, "refused": 0, "failed": 0, "retry": 0}
