"""v1 webhook endpoints: CRUD, the secret shown once, rotation, ping; netguard's one URL rule at
create, at change and again at delivery; owners only; another talent's endpoints answer 404."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from accounts.outbox import PING, WebhookDelivery, WebhookEndpoint, WebhookEvent, new_secret, sign
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from fancommunity.webhooks_out.tasks import deliver_webhooks
from tests.webhooks_out.receiver import Receiver

pytestmark = pytest.mark.django_db
PUBLIC = "https://93.184.215.14/hooks"  # a public address literal: no DNS needed offline
URL = "/api/v1/webhook-endpoints/"
PRIVATE = [
    "https://127.0.0.1/x",
    "https://[::1]/x",
    "https://10.0.0.8/x",
    "https://192.168.1.20/x",
    "https://169.254.169.254/latest/meta-data",  # link-local: the cloud metadata service
    "https://[fe80::1]/x",
    "https://localhost/x",
    "https://metadata.google.internal/x",
    "http://93.184.215.14/x",  # not https
]


@pytest.fixture(autouse=True)
def _production_rules(settings):
    settings.NETGUARD_ALLOWED_HOSTS, settings.NETGUARD_ALLOW_HTTP, settings.DEBUG = [], False, False


def test_create_shows_the_secret_once_and_lists_never(personas, api):
    created = api.post(URL, {"url": PUBLIC, "description": "CRM"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.talent == personas.talent and endpoint.created_by == personas.owner
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert "message.status" not in body["events"] and "fan.joined" in body["events"]  # opt-in stays out
    listed = api.get(URL).json()["results"]
    assert [e["id"] for e in listed] == [endpoint.pk] and "secret" not in listed[0]
    assert "secret" not in api.get(f"{URL}{endpoint.pk}/").json()
    assert endpoint.secret not in api.get(f"{URL}{endpoint.pk}/").content.decode()
    assert AuditEvent.objects.filter(action="webhook_endpoint.created", object_id=str(endpoint.pk)).exists()


@pytest.mark.parametrize("url", PRIVATE)
def test_private_loopback_and_link_local_urls_are_refused_at_create(api, url):
    refused = api.post(URL, {"url": url}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid", refused.content
    assert not WebhookEndpoint.objects.exists()


def test_change_rechecks_the_url_and_events(personas, api):
    pk = api.post(URL, {"url": PUBLIC, "events": ["fan.joined"]}, format="json").json()["id"]
    moved = api.patch(f"{URL}{pk}/", {"url": "https://169.254.169.254/"}, format="json")
    assert moved.status_code == 400 and "169.254.169.254" in moved.json()["message"]
    assert WebhookEndpoint.objects.get(pk=pk).url == PUBLIC
    unknown = api.patch(f"{URL}{pk}/", {"events": ["fan.nope"]}, format="json")
    assert unknown.status_code == 400
    assert api.patch(f"{URL}{pk}/", {"events": []}, format="json").status_code == 400
    changed = api.patch(f"{URL}{pk}/", {"events": ["message.status"], "description": "BI"}, format="json")
    assert changed.status_code == 200 and changed.json()["events"] == ["message.status"]
    # Turning a disabled endpoint on again starts its failure clock afresh.
    WebhookEndpoint.objects.filter(pk=pk).update(is_active=False, disabled_reason="3 days of failures")
    on = api.patch(f"{URL}{pk}/", {"is_active": True}, format="json").json()
    assert on["is_active"] and on["disabled_reason"] == "" and on["failing_since"] is None


def test_a_url_turned_private_after_the_check_is_refused_at_delivery(personas, settings):
    """The dispatcher asks netguard again before each batch: a name can be re-pointed any time."""
    settings.NETGUARD_ALLOW_HTTP = True  # the receiver is plain http: only the address rule refuses
    with Receiver() as receiver:
        endpoint = WebhookEndpoint.objects.create(
            talent=personas.talent, url=receiver.url, events=["fan.opted_out"], secret=new_secret()
        )
        fan_opt_out(fan=personas.fan, evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD))
        report = deliver_webhooks(endpoint.pk)
    assert report["delivered"] == 0 and receiver.requests == []
    row = WebhookDelivery.objects.get()
    assert row.status == WebhookDelivery.Status.PENDING and "127.0.0.1" in row.last_error


def test_rotate_ping_and_delete(personas, api):
    pk = api.post(URL, {"url": PUBLIC}, format="json").json()["id"]
    old = WebhookEndpoint.objects.get(pk=pk).secret
    rotated = api.post(f"{URL}{pk}/rotate-secret/")
    assert rotated.status_code == 200 and rotated["Cache-Control"] == "no-store"
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["previous_secret_until"]
    endpoint = WebhookEndpoint.objects.get(pk=pk)
    header = endpoint.signature_header("msg_1", 1700000000, b"{}").split(" ")
    assert sign(new, "msg_1", 1700000000, b"{}") in header and sign(old, "msg_1", 1700000000, b"{}") in header
    assert api.post(f"{URL}{pk}/ping/").status_code == 202
    assert WebhookEvent.objects.get(type=PING).deliveries.get().endpoint_id == pk
    assert api.delete(f"{URL}{pk}/").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=pk).exists()


def test_another_talents_endpoints_answer_404(personas, api):
    theirs = WebhookEndpoint.objects.create(
        talent=personas.other_talent, url=PUBLIC, events=["fan.joined"], secret=new_secret()
    )
    assert api.get(URL).json()["results"] == []
    for method, path, data in [
        ("get", f"{URL}{theirs.pk}/", None),
        ("patch", f"{URL}{theirs.pk}/", {"description": "mine now"}),
        ("post", f"{URL}{theirs.pk}/rotate-secret/", None),
        ("post", f"{URL}{theirs.pk}/ping/", None),
        ("delete", f"{URL}{theirs.pk}/", None),
    ]:
        response = getattr(api, method)(path, data, format="json")
        assert response.status_code == 404 and response.json()["code"] == "not_found", (method, path)
    theirs.refresh_from_db()
    assert theirs.description == "" and WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_owners_only(personas, make_token, client):
    _, _, no_scope = make_token(["fans:read"])
    refused = no_scope.post(URL, {"url": PUBLIC}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"
    client.force_login(personas.manager)  # the console session of a manager: not an owner
    assert client.get(URL).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_idempotent_create(api):
    first = api.post(URL, {"url": PUBLIC}, format="json", HTTP_IDEMPOTENCY_KEY="e-1")
    again = api.post(URL, {"url": PUBLIC}, format="json", HTTP_IDEMPOTENCY_KEY="e-1")
    assert first.status_code == again.status_code == 201 and WebhookEndpoint.objects.count() == 1
