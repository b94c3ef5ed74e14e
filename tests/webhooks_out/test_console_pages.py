"""Console pages of API tokens and webhooks: owners only, the token shown once, the delivery log."""

from __future__ import annotations

import pytest

from accounts.api_tokens import ApiToken, digest_of
from accounts.outbox import WebhookDelivery, WebhookEndpoint, new_secret
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out

pytestmark = pytest.mark.django_db
TOKENS = "/admin/accounts/apitoken/"
ENDPOINTS = "/admin/accounts/webhookendpoint/"


def test_only_owners_see_tokens_and_webhooks(personas, client):
    for user in (personas.manager, personas.agent, personas.analyst, personas.other_manager):
        client.force_login(user)
        for url in (TOKENS, TOKENS + "add/", ENDPOINTS, ENDPOINTS + "events/", "/admin/accounts/webhookdelivery/"):
            assert client.get(url).status_code == 403, (user, url)
    client.force_login(personas.owner)
    assert client.get(TOKENS).status_code == 200
    assert client.get(ENDPOINTS + "events/").status_code == 200


def test_owner_creates_a_token_and_sees_it_once(personas, client):
    client.force_login(personas.owner)
    response = client.post(
        TOKENS + "add/", {"name": "Ticketing", "scopes": ["fans:read", "exports"], "expires_in": "90"}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    raw = response.context["raw"]
    token = ApiToken.objects.get()
    assert raw.startswith("fc_live_") and token.digest == digest_of(raw) and token.talent == personas.talent
    assert raw in response.content.decode()
    listing = client.get(TOKENS).content.decode()
    assert raw not in listing and f"fc_live_{token.hint}" in listing
    revoke = client.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk]})
    assert revoke.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_form_refuses_no_scope_with_a_message(personas, client):
    client.force_login(personas.owner)
    response = client.post(TOKENS + "add/", {"name": "x", "expires_in": ""})
    assert response.status_code == 200 and "scopes" in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_endpoint_pages_ping_and_send_again(personas, client):
    client.force_login(personas.owner)
    response = client.post(
        ENDPOINTS + "add/",
        {"url": "https://hooks.example.com/in", "description": "CRM", "events": ["fan.opted_out"], "is_active": "on"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.talent == personas.talent
    client.post(ENDPOINTS, {"action": "send_ping", "_selected_action": [endpoint.pk]})
    assert WebhookDelivery.objects.filter(event__type="webhook.test").count() == 1
    fan_opt_out(fan=personas.fan, evidence=Evidence(method=ConsentRecord.Method.CONSOLE))
    row = WebhookDelivery.objects.get(event__type="fan.opted_out")
    WebhookDelivery.objects.filter(pk=row.pk).update(status=WebhookDelivery.Status.FAILED)
    page = client.get(ENDPOINTS + f"{endpoint.pk}/change/").content.decode()
    assert "fan.opted_out" in page and endpoint.secret in page
    client.post("/admin/accounts/webhookdelivery/", {"action": "send_again", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == WebhookDelivery.Status.PENDING
    assert client.get(f"/admin/accounts/webhookdelivery/{row.pk}/change/").status_code == 200


def test_another_talents_endpoint_answers_404(personas, client):
    theirs = WebhookEndpoint.objects.create(
        talent=personas.other_talent, url="https://x.example.com", events=["fan.joined"], secret=new_secret()
    )
    client.force_login(personas.owner)
    assert client.get(ENDPOINTS + f"{theirs.pk}/change/").status_code == 404
