"""The Twilio webhooks skip most of the middleware stack (issue 10), and lose nothing by it: the
same HTTPS redirect, Host check and response headers as any other answer."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from messaging.models import InboundMessage
from tests.accounts.join_support import post_inbound, twilio_inbound_payload

pytestmark = pytest.mark.django_db
STRANGER = "+14155552671"
# Headers that depend on the answer itself, not on the middleware.
_OWN = {"Content-Type", "Content-Length", "Allow"}


def _security_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.items() if k not in _OWN}


def test_a_webhook_answer_carries_the_headers_of_the_full_stack(client, personas, sms_outbox):
    text = post_inbound(client, twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER))
    assert text.status_code == 200
    assert InboundMessage.objects.filter(from_number=STRANGER).exists()
    # A path under /webhooks/twilio/ that is no webhook goes through every middleware.
    full_stack = client.post("/webhooks/twilio/not-a-hook/", {})
    assert full_stack.status_code == 404
    assert _security_headers(text) == _security_headers(full_stack)
    assert "Content-Security-Policy" in text and "X-Frame-Options" in text and "Permissions-Policy" in text


def test_the_refused_method_gets_the_same_headers(client):
    refused = client.get("/webhooks/twilio/inbound/")
    assert refused.status_code == 405
    assert _security_headers(refused) == _security_headers(client.get("/webhooks/twilio/not-a-hook/"))


def test_an_unknown_host_is_refused_as_everywhere_else(client, personas, sms_outbox):
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    response = post_inbound(client, payload, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


def test_plain_http_is_redirected_when_the_site_says_so(personas, sms_outbox):
    with override_settings(SECURE_SSL_REDIRECT=True):
        client = Client()  # middleware is built per handler: this one reads the override
        payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
        response = post_inbound(client, payload)
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert not InboundMessage.objects.exists()


def test_the_webhooks_skip_the_session_and_auth_layers(personas, sms_outbox, monkeypatch):
    # What makes them cheap: no session, user or two-factor lookup for a text from Twilio.
    from django.contrib.sessions.middleware import SessionMiddleware

    def refuse(self, request):
        raise AssertionError("the session layer ran for a webhook")

    monkeypatch.setattr(SessionMiddleware, "process_request", refuse)
    response = post_inbound(Client(), twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER))
    assert response.status_code == 200
