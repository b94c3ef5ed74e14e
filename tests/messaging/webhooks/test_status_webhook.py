"""Status callbacks: signed with the real RequestValidator, idempotent, forward only."""

from __future__ import annotations

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from accounts.models import Fan
from messaging.models import Campaign, OutboundMessage
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
S = OutboundMessage.Status
PATH = "/webhooks/twilio/status/"


def _post(client, params: dict, *, path: str = PATH, token: str | None = None, signature: str | None = None):
    url = settings.PUBLIC_BASE_URL + path
    sig = signature or RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=sig)


def _payload(sid: str, status: str, **extra) -> dict:
    return {
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+14155550101",
        "From": "+15005550001",
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.fixture
def row(personas):
    campaign = create_campaign(personas.talent, status=Campaign.Status.SENDING)
    return OutboundMessage.objects.create(
        talent=personas.talent,
        fan=personas.fan,
        campaign=campaign,
        to_number=str(personas.fan.phone),
        body="Hi",
        status=S.QUEUED,
        provider_sid="SM" + "a" * 32,
    )


def test_statuses_move_forward_only(client, row):
    assert _post(client, _payload(row.provider_sid, "sent")).status_code == 200
    row.refresh_from_db()
    assert row.status == S.SENT
    assert _post(client, _payload(row.provider_sid, "delivered")).status_code == 200
    # A late "sent" and a repeated "queued" arrive after "delivered": no-ops.
    assert _post(client, _payload(row.provider_sid, "sent")).status_code == 200
    assert _post(client, _payload(row.provider_sid, "queued")).status_code == 200
    row.refresh_from_db()
    assert row.status == S.DELIVERED
    # A final status never turns into another final status.
    _post(client, _payload(row.provider_sid, "failed", ErrorCode="30008"))
    row.refresh_from_db()
    assert row.status == S.DELIVERED and row.error_code == ""


def test_bad_signature_is_refused_and_nothing_changes(client, row):
    response = _post(client, _payload(row.provider_sid, "delivered"), token="wrong-token")
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.status == S.QUEUED


def test_signature_over_a_different_url_is_refused(client, row):
    params = _payload(row.provider_sid, "delivered")
    sig = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature("http://testserver" + PATH, params)
    assert client.post(PATH, params, HTTP_X_TWILIO_SIGNATURE=sig).status_code == 403


def test_unknown_sid_gets_200(client, row):
    assert _post(client, _payload("SM" + "f" * 32, "delivered")).status_code == 200


def test_get_and_garbage_are_rejected(client, row):
    assert client.get(PATH).status_code == 405
    assert _post(client, {"MessageSid": row.provider_sid, "MessageStatus": "exploded"}).status_code == 400


def test_callback_before_the_sender_recorded_the_sid_uses_the_row_hint(client, row):
    OutboundMessage.objects.filter(pk=row.pk).update(provider_sid=None, status=S.CLAIMED)
    path = f"{PATH}?m={row.pk}"
    assert _post(client, _payload("SM" + "b" * 32, "sent"), path=path).status_code == 200
    row.refresh_from_db()
    assert row.status == S.SENT and row.provider_sid == "SM" + "b" * 32


def test_failed_with_21610_opts_the_fan_out(client, row, personas):
    _post(client, _payload(row.provider_sid, "failed", ErrorCode="21610"))
    row.refresh_from_db()
    personas.fan.refresh_from_db()
    assert row.status == S.FAILED and row.error_code == "21610"
    assert personas.fan.status == Fan.Status.OPTED_OUT


def test_undelivered_with_30007_pauses_the_campaign(client, row):
    _post(client, _payload(row.provider_sid, "undelivered", ErrorCode="30007"))
    row.campaign.refresh_from_db()
    assert row.campaign.status == Campaign.Status.PAUSED


def test_without_an_auth_token_no_signature_is_accepted(client, row, settings):
    """An empty token would let anyone sign with the empty key and forge 21610 opt-outs."""
    settings.TWILIO_AUTH_TOKEN = ""
    forged = RequestValidator("").compute_signature(
        settings.PUBLIC_BASE_URL + PATH, _payload(row.provider_sid, "failed", ErrorCode="21610")
    )
    response = _post(client, _payload(row.provider_sid, "failed", ErrorCode="21610"), signature=forged)
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.status == S.QUEUED and row.fan.status == Fan.Status.ACTIVE
