"""The Twilio webhooks skip Django's handler at the WSGI level (issue 10, sixth session,
fancommunity/webhook_wsgi.py), and lose nothing by it: the same answer and headers, the connection
handling of close_old_connections at both ends, exceptions answered and logged as Django does,
receivers connected by anyone else still called."""

from __future__ import annotations

import logging
import time

import pytest
from django.core import signals
from django.db import close_old_connections, connection
from django.test import RequestFactory

from fancommunity import webhook_wsgi
from fancommunity.wsgi import application
from messaging.models import InboundMessage
from tests.accounts.join_support import INBOUND_PATH, post_inbound, sign, twilio_inbound_payload

STRANGER = "+14155552671"
_OWN = {"Content-Length"}  # the test client adds it; gunicorn sends the body chunked or counted


def call(environ: dict, *, close: bool = True) -> tuple[int, dict[str, str], bytes, object]:
    """The application called as gunicorn calls it."""
    seen: list = []
    answer = application(environ, lambda status, headers, exc_info=None: seen.append((status, headers)))
    body = b"".join(answer)
    if close:
        answer.close()
    status, headers = seen[0]
    return int(status.split(" ", 1)[0]), dict(headers), body, answer


def signed_text(talent, **headers) -> dict:
    payload = twilio_inbound_payload(talent=talent, body="hi", from_=STRANGER)
    return RequestFactory().post(INBOUND_PATH, payload, HTTP_X_TWILIO_SIGNATURE=sign(payload), **headers).environ


@pytest.fixture
def connection_checks(monkeypatch):
    """Counts the dispatcher's close_old_connections (the real one would close the test's
    transaction, which is why Django's test client disconnects it too)."""
    calls: list[str] = []
    monkeypatch.setattr(webhook_wsgi, "close_old_connections", lambda: calls.append("checked"))
    return calls


@pytest.mark.django_db
def test_a_text_is_answered_as_through_djangos_handler(client, personas, sms_outbox, connection_checks):
    status, headers, body, _ = call(signed_text(personas.talent))
    assert status == 200 and InboundMessage.objects.filter(from_number=STRANGER).count() == 1
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_="+14155552672")
    full = post_inbound(client, payload)  # the test client goes through Django's handler
    assert body == full.content
    assert {k: v for k, v in headers.items() if k not in _OWN} == {k: v for k, v in full.items() if k not in _OWN}
    assert "Content-Security-Policy" in headers and "X-Frame-Options" in headers


@pytest.mark.django_db
def test_connections_are_checked_at_both_ends_of_the_request(personas, sms_outbox, connection_checks):
    _, _, _, answer = call(signed_text(personas.talent), close=False)
    assert connection_checks == ["checked"]  # request_started's receiver
    answer.close()  # gunicorn closes the answer once it is written
    assert connection_checks == ["checked", "checked"]  # request_finished's


@pytest.mark.django_db(transaction=True)
def test_a_connection_past_its_age_is_closed(personas, sms_outbox):
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1  # CONN_MAX_AGE is over
    status, _, _, _ = call(RequestFactory().get(INBOUND_PATH).environ)
    assert status == 405
    assert connection.connection is None


@pytest.mark.django_db
def test_anything_else_listening_to_the_request_signals_is_called(personas, sms_outbox):
    heard: list[str] = []

    def started(**kwargs):
        heard.append("started")

    def finished(**kwargs):
        heard.append("finished")

    # As Django's test client does: the real close_old_connections would end the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        status, _, _, _ = call(signed_text(personas.talent))
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    assert status == 200
    assert heard == ["started", "finished"]


@pytest.mark.django_db
def test_an_exception_is_a_logged_500(personas, sms_outbox, connection_checks, monkeypatch, caplog):
    from fancommunity import middleware

    def broken(request):
        raise RuntimeError("the parse broke")

    monkeypatch.setattr(middleware, "_parse_form", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        status, _, _, _ = call(signed_text(personas.talent))
    assert status == 500
    assert any(
        r.name == "django.request" and r.exc_info and "the parse broke" in str(r.exc_info[1]) for r in caplog.records
    )
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_bad_requests_are_4xx_and_logged(personas, sms_outbox, connection_checks, caplog):
    with caplog.at_level(logging.WARNING):
        host, _, _, _ = call(signed_text(personas.talent, HTTP_HOST="evil.example"))  # DisallowedHost
        forged = RequestFactory().post(INBOUND_PATH, {"Body": "hi"}, HTTP_X_TWILIO_SIGNATURE="nope").environ
        refused, _, _, _ = call(forged)
    assert (host, refused) == (400, 403)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Invalid HTTP_HOST header" in m for m in messages)
    assert any(m.startswith("Forbidden: /webhooks/twilio/inbound/") for m in messages)
    assert not InboundMessage.objects.exists()


def test_other_paths_go_to_djangos_handler(monkeypatch):
    passed: list[str] = []
    monkeypatch.setattr(
        application, "handler", lambda environ, start_response: passed.append(environ["PATH_INFO"]) or []
    )
    for path in ("/healthz", "/webhooks/twilio/not-a-hook/", "/webhooks/twilio/inbound/\u00e9", "/"):
        application(RequestFactory().get(path).environ, None)
    assert passed == ["/healthz", "/webhooks/twilio/not-a-hook/", "/webhooks/twilio/inbound/\u00e9", "/"]


def test_with_djangos_own_receivers_the_signals_are_not_sent():
    # What makes it cheaper; a receiver Django adds in a later version sends them again (above).
    assert webhook_wsgi._only(signals.request_started, webhook_wsgi._STARTED)
    assert webhook_wsgi._only(signals.request_finished, webhook_wsgi._FINISHED)
