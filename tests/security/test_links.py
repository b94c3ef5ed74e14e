"""A fan's live links are credentials (issue 15 §4): opaque, never stored, never shown, never logged."""

from __future__ import annotations

import importlib
import io
import json
import logging
import re
import time

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client
from django.utils.crypto import salted_hmac
from django.utils.http import int_to_base36

from accounts.models import Fan
from accounts.tokens import DATA_LINK, JOIN_LINK, TOKEN_LENGTH, join_tokens, self_service_tokens
from fancommunity.logfilters import RedactSecrets, redact
from messaging.models import OutboundMessage
from messaging.privacy.services import fan_data_export
from messaging.sending.engine import campaign_sweep
from tests.accounts.join_support import committing, link_in, open_data_link, publish_documents, text_in

pytestmark = pytest.mark.django_db
STRANGER = "+14155552671"


def _legacy(salt: str, subject: int, ts: int, value: str) -> str:
    """A link as texted before issue 15 (the subject readable in base 36)."""
    digest = salted_hmac(salt, value, secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()[::2]
    return f"{int_to_base36(subject)}-{int_to_base36(ts)}-{digest}"


def test_tokens_are_opaque(personas):
    first = join_tokens.make_token(talent=personas.talent, phone=STRANGER)
    second = join_tokens.make_token(talent=personas.talent, phone=STRANGER)
    assert len(first) == len(second) == TOKEN_LENGTH
    assert not first.startswith(int_to_base36(int(STRANGER[1:])))  # was its first part
    assert "4155552671" not in first
    # A fresh salt per token: two links for one number share no visible part.
    assert first[:18] != second[:18]
    data = self_service_tokens.make_token(fan=personas.fan)
    # The old format began "<fan pk in base 36>-"; the opaque one is url-safe base 64, where "-" is
    # an ordinary character, so only the prefix says anything (a substring check fails 1 run in ~60).
    assert not data.startswith(int_to_base36(personas.fan.pk) + "-") and len(data) == TOKEN_LENGTH


def test_links_texted_before_the_change_keep_working_until_they_expire(personas):
    now = int(time.time())
    fan = personas.fan
    state = f"{fan.link_nonce}:{fan.status}"
    phone = str(fan.phone)
    join = _legacy(join_tokens.key_salt, int(phone[1:]), now, f"{personas.talent.pk}:{phone}:{now}:{state}")
    assert join_tokens.check_token(talent=personas.talent, token=join).phone == phone
    old = now - settings.JOIN_LINK_MAX_AGE - 61
    expired = _legacy(join_tokens.key_salt, int(phone[1:]), old, f"{personas.talent.pk}:{phone}:{old}:{state}")
    assert join_tokens.check_token(talent=personas.talent, token=expired) is None
    me = _legacy(
        self_service_tokens.key_salt, fan.pk, now, f"{fan.pk}:{fan.talent_id}:{fan.phone}:{now}:{fan.link_nonce}"
    )
    assert self_service_tokens.check_token(me) == fan


def _stored_bodies() -> str:
    return " ".join(OutboundMessage.objects.values_list("body", flat=True))


def test_a_join_link_is_stored_as_a_placeholder_and_works_when_texted(client, personas, sms_outbox):
    publish_documents(personas.talent)
    committing(text_in, client, personas.talent, "hi", STRANGER)
    stored = OutboundMessage.objects.get(to_number=STRANGER)
    assert JOIN_LINK in stored.body and "?t=" not in stored.body
    assert len(sms_outbox) == 1 and "?t=" in sms_outbox[0].body
    # The placeholder was counted as the link it becomes.
    from messaging.sms.parts import sms_parts

    assert stored.parts == sms_parts(sms_outbox[0].body).parts
    assert client.get(link_in(sms_outbox[0].body)).status_code == 200


def test_a_data_link_is_stored_as_a_placeholder_and_never_shown_to_staff(client, personas, sms_outbox):
    committing(text_in, client, personas.talent, "MYDATA", str(personas.fan.phone))
    assert len(sms_outbox) == 1
    link = link_in(sms_outbox[0].body)
    token = link.split("?t=")[1]
    assert DATA_LINK in _stored_bodies() and token not in _stored_bodies()
    # The console's pages of texts, for the team.
    client.force_login(personas.owner)
    for url in [
        "/admin/messaging/outboundmessage/",
        f"/admin/messaging/outboundmessage/{OutboundMessage.objects.get().pk}/change/",
    ]:
        page = client.get(url)
        assert page.status_code == 200 and token.encode() not in page.content and b"?t=" not in page.content
    # The fan's own export (the /me/ download) and archive hold no live link either.
    client.logout()
    open_data_link(client, link)
    export = client.get("/me/export.json")
    assert export.status_code == 200 and b"?t=" not in export.content
    assert "?t=" not in json.dumps(fan_data_export(fan=Fan.objects.get(pk=personas.fan.pk)), default=str)


def test_a_signup_link_the_team_texts_from_the_console_is_never_shown_to_the_team(client, personas, sms_outbox):
    """The console's "text them a signup link": whoever could read the link could join as that
    number (the link proves the holder got a text there)."""
    from django.test import TestCase

    publish_documents(personas.talent)
    client.force_login(personas.manager)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            "/admin/accounts/fan/add/",
            {"phone": STRANGER, "first_name": "", "last_name": "", "email": "", "consent_note": "", "how": "send_link"},
        )
    assert response.status_code == 302
    assert len(sms_outbox) == 1 and "?t=" in sms_outbox[0].body
    token = link_in(sms_outbox[0].body).split("?t=")[1]
    stored = OutboundMessage.objects.get(to_number=STRANGER)
    assert JOIN_LINK in stored.body and token not in _stored_bodies()
    page = client.get(f"/admin/messaging/outboundmessage/{stored.pk}/change/")
    assert page.status_code == 200 and b"?t=" not in page.content
    client.logout()
    assert client.get(link_in(sms_outbox[0].body)).status_code == 200  # the texted link works


def test_a_signup_code_is_never_stored_in_a_body_nor_shown_to_the_team(client, personas, sms_outbox):
    """The code that proves a typed number: sealed in the stored body, made readable as it leaves."""
    from django.test import TestCase

    from tests.accounts.join_support import join_url, signup_data

    terms, privacy = publish_documents(personas.talent)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(join_url(personas.talent), signup_data(terms, privacy, phone=STRANGER))
    assert response.status_code == 302
    assert len(sms_outbox) == 1
    code = re.search(r"code is (\d{6})", sms_outbox[0].body).group(1)
    stored = OutboundMessage.objects.get(to_number=STRANGER)
    assert code not in stored.body and "{code:" in stored.body
    from messaging.sms.parts import sms_parts

    assert stored.parts == sms_parts(sms_outbox[0].body).parts  # counted as the text it becomes
    staff = Client()
    staff.force_login(personas.owner)
    for url in ["/admin/messaging/outboundmessage/", f"/admin/messaging/outboundmessage/{stored.pk}/change/"]:
        page = staff.get(url)
        assert page.status_code == 200 and code.encode() not in page.content
    # The fan types the code they got and is in.
    assert client.post(response["Location"], {"code": code}).status_code == 302
    assert Fan.objects.get(talent=personas.talent, phone=STRANGER).status == Fan.Status.ACTIVE


def test_a_sealed_code_cannot_be_read_or_moved(personas):
    from accounts.tokens import code_placeholder, render_links

    body = f"Your code is {code_placeholder(personas.talent, '012345')}."
    assert "012345" not in body and "12345" not in body
    assert render_links(body, talent=personas.talent, fan=None) == "Your code is 012345."
    with pytest.raises(ValueError):  # sealed for one talent, it opens for no other
        render_links(body, talent=personas.other_talent, fan=None)


def test_an_uncertain_text_with_a_link_is_never_resent_by_the_sweeper(personas):
    from django.utils import timezone

    row = OutboundMessage.objects.create(
        talent=personas.talent,
        fan=personas.fan,
        kind=OutboundMessage.Kind.SYSTEM,
        to_number=str(personas.fan.phone),
        body=f"Your data: {DATA_LINK}",
        status=OutboundMessage.Status.UNCERTAIN,
    )
    OutboundMessage.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timezone.timedelta(days=1))
    campaign_sweep()
    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.UNCERTAIN  # "not found" (the body differs) would resend it


def test_the_migration_replaces_links_in_bodies_stored_before_it(personas):
    migration = importlib.import_module("messaging.migrations.0009_security_link_placeholders")
    old = OutboundMessage.objects.create(
        talent=personas.talent,
        fan=personas.fan,
        kind=OutboundMessage.Kind.SYSTEM,
        to_number=str(personas.fan.phone),
        body="Nova: Join here: https://fans.example.com/join/nova/?t=2ab3-m1x2-0f3a Reply STOP. "
        "Data: https://fans.example.com/me/?t=zz-yy-xx (once)",
    )
    reply = OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, kind=OutboundMessage.Kind.REPLY, to_number="+1", body="see ?t=x"
    )
    migration.scrub(apps, None)
    old.refresh_from_db()
    reply.refresh_from_db()
    assert old.body == "Nova: Join here: {join_link} Reply STOP. Data: {data_link} (once)"
    assert reply.body == "see ?t=x"  # a team member's words are theirs


def test_links_and_numbers_never_reach_the_logs():
    line = 'GET /join/nova/?t=AbCdEf0123456789_-AbCdEf0123456789_-AbCd HTTP/1.1" 200 from +14155550101'
    assert redact(line) == 'GET /join/nova/?t=[redacted] HTTP/1.1" 200 from [phone]'
    assert redact("/team/invite/1x-abcdef/ and /admin/reset/MQ/set-password/") == (
        "/team/invite/[redacted]/ and /admin/reset/MQ/[redacted]/"
    )
    assert redact("To=%2B14155550101&Body=hi") == "To=[phone]&Body=hi"
    assert redact("campaign 42 at 2026-12-01 13:54:42+00:00") == "campaign 42 at 2026-12-01 13:54:42+00:00"


def test_the_configured_handlers_redact(settings):
    # The handlers settings.LOGGING installs: the root console handler and runserver's access log.
    for name in ("", "django.server"):
        handlers = [h for h in logging.getLogger(name).handlers if type(h) is logging.StreamHandler]  # not pytest's
        assert handlers and all(any(isinstance(f, RedactSecrets) for f in h.filters) for h in handlers), name
    handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
    stream = io.StringIO()
    old, handler.stream = handler.stream, stream
    try:
        logging.getLogger("messaging.test").warning("sent %s to %s", "/me/?t=secret", "+447700900123")
    finally:
        handler.stream = old
    assert "secret" not in stream.getvalue() and "[phone]" in stream.getvalue()
