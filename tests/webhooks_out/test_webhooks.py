"""Outgoing webhooks: outbox in the change's transaction, batched signed delivery, retries, limits."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook

from accounts import outbox
from accounts import webhook_delivery as delivery
from accounts.outbox import WebhookDelivery, WebhookEndpoint, WebhookEvent, sign
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from fancommunity.webhooks_out.endpoints import url_problem
from messaging.privacy.services import fan_erase
from tests.factories import create_fan
from tests.webhooks_out.receiver import Receiver

pytestmark = pytest.mark.django_db
S = WebhookDelivery.Status


def make_endpoint(talent, url="https://hooks.example.com/in", events=None, **fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        talent=talent,
        url=url,
        events=events or ["fan.joined", "fan.opted_out", "fan.erased"],
        secret=outbox.new_secret(),
        **fields,
    )


def deliver(endpoint) -> delivery.DeliverReport:
    """As the task runs the dispatcher: with netguard's URL rule."""
    return delivery.endpoint_deliver(endpoint_id=endpoint.pk, check_url=url_problem)


def opt_out(fan):
    fan_opt_out(fan=fan, evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD))


def test_signature_matches_the_standard_webhooks_test_vector():
    # From the Standard Webhooks spec's reference libraries (test vector of the signature scheme).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_events_are_written_in_the_changes_transaction_for_subscribers_only(personas):
    make_endpoint(personas.talent)
    make_endpoint(personas.talent, events=["message.received"])  # not subscribed to opt-outs
    make_endpoint(personas.other_talent)  # another talent's endpoint hears nothing of Nova
    with pytest.raises(RuntimeError), transaction.atomic():
        opt_out(personas.fan)
        raise RuntimeError("the change rolls back")
    assert not WebhookEvent.objects.exists()
    opt_out(personas.fan)
    event = WebhookEvent.objects.get()
    assert event.type == "fan.opted_out" and event.data["fan"] == {
        "id": personas.fan.pk, "status": "opted_out", "method": "sms_keyword", "opted_out_at": event.data["fan"]["opted_out_at"],
    }  # fmt: skip
    assert WebhookDelivery.objects.count() == 1


def test_no_endpoint_no_rows(personas):
    opt_out(personas.fan)
    assert not WebhookEvent.objects.exists()


def test_message_status_only_when_asked_for(personas):
    from messaging.models import OutboundMessage
    from messaging.webhooks.status import message_status_callback

    make_endpoint(personas.talent)  # the default events: no message.status
    row = OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, to_number="+14155550101", status="queued", provider_sid="SM1"
    )
    message_status_callback(sid="SM1", status="sent")
    assert not WebhookEvent.objects.exists()
    make_endpoint(personas.talent, events=["message.status"])
    message_status_callback(sid="SM1", status="delivered")
    event = WebhookEvent.objects.get()
    assert event.data == {
        "message": {
            "id": row.pk,
            "campaign_id": None,
            "fan_id": personas.fan.pk,
            "status": "delivered",
            "error_code": "",
        }
    }


def test_delivery_is_signed_batched_and_verified_by_a_receiver(personas):
    with Receiver() as receiver:
        endpoint = make_endpoint(personas.talent, url=receiver.url)
        receiver.secret = endpoint.secret
        for fan in [personas.fan, *[create_fan(personas.talent) for _ in range(4)]]:
            opt_out(fan)
        report = deliver(endpoint)
    assert report.delivered == 5 and len(receiver.requests) == 5
    assert len(receiver.events) == 5
    assert all(e["type"] == "fan.opted_out" for e in receiver.events.values())
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {S.DELIVERED}
    first = WebhookDelivery.objects.first()
    assert first.attempts == 1 and first.last_status_code == 200 and first.last_latency_ms is not None


def test_one_task_per_endpoint_not_per_event(personas, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append(a))
    endpoint = make_endpoint(personas.talent)
    fans = [create_fan(personas.talent) for _ in range(10)]
    with django_capture_on_commit_callbacks(execute=True):
        for fan in fans:
            opt_out(fan)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 10
    assert calls == [(outbox.DELIVER_TASK, endpoint.pk)]  # ten events, one dispatcher task


def test_retries_after_500_and_timeout_with_the_same_id_and_dedup(personas, monkeypatch):
    monkeypatch.setattr(delivery, "TIMEOUT", (1, 0.5))
    with Receiver() as receiver:
        endpoint = make_endpoint(personas.talent, url=receiver.url)
        receiver.secret = endpoint.secret
        receiver.script = [500, "slow"]
        receiver.slow_seconds = 1.0
        opt_out(personas.fan)
        row = WebhookDelivery.objects.get()
        deliver(endpoint)
        row.refresh_from_db()
        assert row.status == S.PENDING and row.attempts == 1 and row.last_status_code == 500
        assert row.next_attempt_at > timezone.now()  # backing off: not retried at once
        assert deliver(endpoint).delivered == 0
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        deliver(endpoint)
        row.refresh_from_db()
        assert row.attempts == 2 and "in time" in row.last_error
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        deliver(endpoint)
        row.refresh_from_db()
        assert row.status == S.DELIVERED and row.attempts == 3
        # The timed-out attempt may have reached the receiver too: it saw the same id each time.
        ids = {r["headers"]["webhook-id"] for r in receiver.requests}
        assert len(receiver.requests) == 3 and len(ids) == 1 and len(receiver.events) == 1
        delivery.delivery_resend(delivery=row, actor=personas.owner)  # "send again"
        deliver(endpoint)
        assert len(receiver.requests) == 4 and len(receiver.events) == 1  # deduplicated by id


def test_backoff_schedule_and_giving_up_after_three_days():
    delays = [delivery.next_delay(n) for n in range(1, 10)]
    assert delays[:3] == [dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30)]
    assert delays == sorted(delays) and delays[-1] == dt.timedelta(hours=10)
    total, attempts = dt.timedelta(0), 0
    while total + delivery.next_delay(attempts + 1) <= outbox.RETRY_FOR:
        attempts += 1
        total += delivery.next_delay(attempts)
    assert 8 <= attempts <= 12  # about ten tries over three days


def test_gives_up_an_old_event_and_disables_an_endpoint_failing_three_days(personas):
    with Receiver() as receiver:
        endpoint = make_endpoint(personas.talent, url=receiver.url)
        receiver.script = [500, 500]
        opt_out(personas.fan)
        WebhookEvent.objects.update(created_at=timezone.now() - dt.timedelta(days=3))
        deliver(endpoint)
        assert WebhookDelivery.objects.get().status == S.FAILED  # past 3 days: given up
        assert WebhookEndpoint.objects.get().is_active  # one failure is not three days of them
        WebhookEndpoint.objects.update(failing_since=timezone.now() - dt.timedelta(days=3, minutes=1))
        opt_out(create_fan(personas.talent))
        deliver(endpoint)
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "3 days" in endpoint.disabled_reason
    assert mail.outbox and personas.owner.email in mail.outbox[0].to
    assert not WebhookDelivery.objects.filter(status=S.PENDING).exists()


def test_a_success_clears_the_failing_streak(personas):
    with Receiver() as receiver:
        endpoint = make_endpoint(personas.talent, url=receiver.url, failing_since=timezone.now() - dt.timedelta(days=2))
        opt_out(personas.fan)
        deliver(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.is_active


def test_an_erased_fans_events_carry_nothing_but_the_id(personas):
    make_endpoint(personas.talent, events=["fan.opted_out", "fan.erased", "message.received"])
    opt_out(personas.fan)
    outbox.webhook_emit(
        talent_id=personas.talent.pk, type="message.received",
        data={"message": {"id": 1, "fan_id": personas.fan.pk, "body": "my address is 1 Main St"}}, fan_id=personas.fan.pk,
    )  # fmt: skip
    fan_erase(fan=personas.fan, reason="test")
    events = {e.type: e.data for e in WebhookEvent.objects.all()}
    assert events == {t: {"fan": {"id": personas.fan.pk}} for t in ("fan.opted_out", "fan.erased", "message.received")}
    assert "Main St" not in json.dumps(list(WebhookEvent.objects.values("data")))


def test_message_received_and_fan_joined_are_emitted(personas):
    from messaging.conversations.inbound import inbound_process_batch, inbound_store

    make_endpoint(personas.talent, events=["message.received"])
    inbound_store(
        talent=personas.talent, sid="SM" + "1" * 32, from_number=str(personas.fan.phone), body="Loved the show!",
        payload={"To": str(personas.talent.sender_number)},
    )  # fmt: skip
    inbound_process_batch()
    event = WebhookEvent.objects.get(type="message.received")
    assert event.data["message"]["body"] == "Loved the show!" and event.fan_id == personas.fan.pk


@override_settings(NETGUARD_ALLOWED_HOSTS=[], NETGUARD_ALLOW_HTTP=False)
def test_private_loopback_and_metadata_addresses_are_refused():
    for url in [
        "https://127.0.0.1/x", "https://10.1.2.3/x", "https://192.168.0.5/x", "https://169.254.169.254/latest",
        "https://[::1]/x", "https://localhost/x", "http://93.184.215.14/x", "https://[fe80::1]/x",
    ]:  # fmt: skip
        assert url_problem(url), url
    assert url_problem("https://93.184.215.14/hooks") == ""
    from fancommunity.webhooks_out.admin import EndpointForm

    form = EndpointForm(data={"url": "https://127.0.0.1/x", "events": ["fan.joined"], "is_active": "on"})
    assert not form.is_valid() and "private" in str(form.errors["url"])


def test_the_dispatcher_checks_the_address_again(personas, settings):
    endpoint = make_endpoint(personas.talent, url="https://127.0.0.1:1/x")  # saved while allowed
    opt_out(personas.fan)
    settings.NETGUARD_ALLOWED_HOSTS, settings.NETGUARD_ALLOW_HTTP = [], False  # as in production
    deliver(endpoint)
    row = WebhookDelivery.objects.get()
    assert row.status == S.PENDING and "private" in row.last_error and row.last_status_code is None
    assert row.attempts == 1  # counted as a failed try: it backs off and is given up after 3 days


def test_two_secrets_sign_during_a_rotation(personas):
    endpoint = make_endpoint(personas.talent)
    old = endpoint.secret
    new = outbox.endpoint_rotate_secret(endpoint=endpoint, actor=personas.owner)
    header = endpoint.signature_header("msg_1", 1700000000, b"{}")
    assert len(header.split(" ")) == 2
    for secret in (old, new):
        assert sign(secret, "msg_1", 1700000000, b"{}") in header.split(" ")
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(timezone.now().timestamp()))}
    headers["webhook-signature"] = endpoint.signature_header("msg_1", int(headers["webhook-timestamp"]), b"{}")
    Webhook(old).verify(b"{}", headers)
    Webhook(new).verify(b"{}", headers)
    WebhookEndpoint.objects.update(previous_secret_until=timezone.now() - dt.timedelta(seconds=1))
    endpoint.refresh_from_db()
    assert len(endpoint.signature_header("msg_1", 1, b"{}").split(" ")) == 1


def test_sweeper_starts_one_dispatcher_per_due_endpoint(personas, monkeypatch):
    from fancommunity.webhooks_out import tasks

    calls = []
    monkeypatch.setattr(tasks, "async_task", lambda *a, **k: calls.append(a))
    a = make_endpoint(personas.talent)
    make_endpoint(personas.talent, events=["message.received"])
    opt_out(personas.fan)
    assert tasks.dispatch_webhooks() == [a.pk] and calls == [(outbox.DELIVER_TASK, a.pk)]


def test_campaign_finished_is_emitted_with_the_completion(personas):
    from messaging.models import Campaign
    from messaging.sending.engine import campaign_maybe_complete

    make_endpoint(personas.talent, events=["campaign.finished"])
    campaign = Campaign.objects.create(talent=personas.talent, name="Tour", body="hi", status=Campaign.Status.SENDING)
    assert campaign_maybe_complete(campaign_id=campaign.pk)
    event = WebhookEvent.objects.get()
    assert event.type == "campaign.finished" and event.data["campaign"]["id"] == campaign.pk
    assert not campaign_maybe_complete(campaign_id=campaign.pk)  # once only
    assert WebhookEvent.objects.count() == 1


def test_fan_joined_on_signup(personas):
    from consent.models import TermsDocument
    from consent.services import fan_signup
    from tests.factories import create_terms

    make_endpoint(personas.talent, events=["fan.joined"])
    terms = create_terms(personas.talent, TermsDocument.Kind.TERMS)
    privacy = create_terms(personas.talent, TermsDocument.Kind.PRIVACY)
    fan_signup(
        talent=personas.talent, phone="+14155550688", profile={"first_name": "Jo"}, messaging_consent=True,
        sharing_consent=False, terms=terms, privacy=privacy, evidence=Evidence(method="web_form"),
    )  # fmt: skip
    event = WebhookEvent.objects.get()
    assert (
        event.type == "fan.joined"
        and event.data["fan"]["source"] == "web"
        and "first_name" not in json.dumps(event.data)
    )


def test_fans_joined_in_bulk_one_event_each_one_kick_per_endpoint(
    personas, monkeypatch, django_capture_on_commit_callbacks
):
    from accounts.models import Fan

    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append(a))
    assert outbox.emit_fans_joined(talent_id=personas.talent.pk, fan_ids=[personas.fan.pk]) == 0  # no endpoint
    endpoint = make_endpoint(personas.talent, events=["fan.joined"])
    make_endpoint(personas.talent, events=["fan.opted_out"])  # not subscribed
    joined = [create_fan(personas.talent, joined_at=timezone.now()) for _ in range(3)]
    pending = create_fan(personas.talent, status=Fan.Status.PENDING)
    ids = [f.pk for f in joined] + [pending.pk, personas.other_fan.pk]  # the rival's fan gets none
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.emit_fans_joined(talent_id=personas.talent.pk, fan_ids=ids) == 3
    events = WebhookEvent.objects.filter(type="fan.joined")
    assert sorted(e.fan_id for e in events) == sorted(f.pk for f in joined)
    assert events[0].data["fan"]["status"] == "active" and set(events[0].data["fan"]) == {
        "id", "status", "source", "joined_at",
    }  # fmt: skip
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 3 and WebhookDelivery.objects.count() == 3
    assert calls == [(outbox.DELIVER_TASK, endpoint.pk)]
