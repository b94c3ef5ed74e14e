"""/healthz, /healthz/strict and /metrics (issue 17)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Task

from fancommunity import health
from messaging.models import OutboundMessage
from tests.factories import create_fan, create_talent

pytestmark = pytest.mark.django_db

NOT_INLINE = {**settings.Q_CLUSTER, "sync": False}


def _beat(cluster: str, seconds_ago: float) -> None:
    now = timezone.now()
    Task.objects.create(
        id=uuid.uuid4().hex,
        name=f"beat-{uuid.uuid4().hex[:6]}",
        func=health.HEARTBEAT_FUNC,
        started=now - dt.timedelta(seconds=seconds_ago + 0.1),
        stopped=now - dt.timedelta(seconds=seconds_ago),
        success=True,
        group=health.heartbeat_schedule_name(cluster),
    )


def _rows(talent, status: str, n: int) -> None:
    OutboundMessage.objects.bulk_create(
        OutboundMessage(talent=talent, to_number=f"+1415555{i:04d}", body="x", status=status) for i in range(n)
    )


def test_healthz_reports_each_component_and_answers_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["strict"] is False
    assert body["database"]["ok"] is True
    assert body["broker"] == {
        "kind": "orm",
        "ok": True,
        "queues": {"fancommunity": {"depth": 0, "oldest_seconds": 0}, "priority": {"depth": 0, "oldest_seconds": 0}},
    }
    assert set(body["clusters"]) == {"fancommunity", "priority"}
    assert response["Cache-Control"] == "no-store"


@override_settings(Q_CLUSTER=NOT_INLINE)
def test_strict_fails_until_every_cluster_beats_and_again_when_a_beat_is_stale(client):
    assert client.get("/healthz").status_code == 200  # the balancer's probe: the database answers
    response = client.get("/healthz/strict")
    assert response.status_code == 503
    assert response.json()["clusters"]["priority"] == {
        "ok": False,
        "last_beat_seconds": None,
        "error": "no heartbeat yet",
    }
    _beat("fancommunity", 5)
    _beat("priority", 10)
    response = client.get("/healthz/strict")
    assert response.status_code == 200, response.json()
    assert response.json()["clusters"]["priority"]["last_beat_seconds"] == 10
    _beat("priority", settings.HEALTH_HEARTBEAT_MAX_AGE + 60)  # an older beat changes nothing
    assert client.get("/healthz/strict").status_code == 200
    Task.objects.filter(
        group=health.heartbeat_schedule_name("priority"), stopped__gt=timezone.now() - dt.timedelta(seconds=60)
    ).delete()
    response = client.get("/healthz?strict=1")
    assert response.status_code == 503
    assert response.json()["clusters"]["priority"]["ok"] is False
    assert response.json()["clusters"]["fancommunity"]["ok"] is True
    # One cluster at a time, for a worker container's own health check.
    assert client.get("/healthz/strict?cluster=fancommunity").status_code == 200
    assert client.get("/healthz/strict?cluster=priority").status_code == 503
    assert client.get("/healthz/strict?cluster=nope").status_code == 404


def test_a_waiting_task_shows_in_its_queue_depth_and_age(client):
    from django_q.models import OrmQ

    OrmQ.objects.create(key="fancommunity", payload="x", lock=timezone.now() - dt.timedelta(seconds=42))
    OrmQ.objects.create(key="fancommunity", payload="y", lock=timezone.now() + dt.timedelta(seconds=300))  # taken
    queues = client.get("/healthz").json()["broker"]["queues"]
    assert queues["fancommunity"]["depth"] == 1
    assert 41 <= queues["fancommunity"]["oldest_seconds"] <= 44
    assert queues["priority"]["depth"] == 0


def test_database_down_is_503_and_names_no_host(client, monkeypatch):
    class Broken:
        vendor = connection.vendor

        def cursor(self):
            raise OperationalError('connection to server at "10.1.2.3", port 5432 failed: Connection refused')

        def close_if_unusable_or_obsolete(self):
            pass

    monkeypatch.setattr(health, "connection", Broken())
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["database"] == {"ok": False, "vendor": connection.vendor, "error": "OperationalError"}
    assert "10.1.2.3" not in response.content.decode()


def test_probes_skip_the_https_redirect_and_the_host_check():
    with override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["fans.example.com"]):
        client = Client()  # built inside: SecurityMiddleware reads the setting when it is created
        assert client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
        assert client.get("/healthz/strict", HTTP_HOST="10.0.0.7:8000").status_code in (200, 503)
        assert client.get("/metrics", HTTP_HOST="10.0.0.7:8000").status_code == 200
        assert client.get("/join/nope/", HTTP_HOST="fans.example.com").status_code == 301  # everything else
        assert client.get("/join/nope/", HTTP_HOST="10.0.0.7:8000").status_code == 400


@override_settings(METRICS_TOKEN="s3cret-token")
def test_metrics_need_an_allowed_network_or_the_token(client):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outside).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **outside).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **outside).status_code == 200
    # A forwarded header proves nothing: only the peer address counts.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1", **outside).status_code == 403


def test_metrics_report_messages_queues_backlog_and_webhook_latency(client):
    talent = create_talent("metrics")
    fan = create_fan(talent, "+14155550111")
    _rows(talent, "pending", 3)
    _rows(talent, "claimed", 2)
    _rows(talent, "delivered", 4)
    from messaging.sms.models import InboundMessage

    InboundMessage.objects.create(
        talent=talent,
        fan=fan,
        message_sid="SM" + "1" * 32,
        from_number="+14155550111",
        to_number="+15005550006",
        body="hi",
    )
    client.post("/webhooks/twilio/status/", {"MessageSid": "SMx", "MessageStatus": "sent"})  # unsigned: 403
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert "fancommunity_database_up 1.0" in text
    assert 'fancommunity_broker_up{kind="orm"} 1.0' in text
    assert 'fancommunity_task_queue_depth{cluster="priority"} 0.0' in text
    assert 'fancommunity_outbound_messages_in_flight{status="pending"} 3.0' in text
    assert 'fancommunity_outbound_messages_in_flight{status="claimed"} 2.0' in text
    assert "fancommunity_priority_lane_pending 3.0" in text
    assert "fancommunity_inbound_backlog 1.0" in text
    assert 'fancommunity_webhook_seconds_count{code="4xx",hook="status"}' in text
    if connection.vendor == "sqlite":  # exact on the embedded default
        assert 'fancommunity_outbound_messages_estimated{status="delivered"} 4.0' in text
    assert "+1415555" not in text  # no fan's number in a label


def test_metrics_of_a_sending_campaign_give_the_send_rate_per_sender(client):
    from messaging.models import Campaign

    talent = create_talent("rate", sender_number="+15005550006")
    campaign = Campaign.objects.create(talent=talent, name="Blast", body="Hi", status=Campaign.Status.SENDING)
    OutboundMessage.objects.bulk_create(
        OutboundMessage(talent=talent, campaign=campaign, to_number=f"+1415666{i:04d}", body="x", status=s)
        for i, s in enumerate(["queued", "delivered", "sent", "pending", "failed"])
    )
    text = client.get("/metrics").content.decode()
    labels = f'campaign="{campaign.pk}",sender="+15005550006",talent="rate"'
    assert f"fancommunity_campaign_sent_messages{{{labels}}} 3.0" in text
    assert f"fancommunity_campaign_pending_messages{{{labels}}} 1.0" in text


@pytest.mark.postgres_only
def test_a_scrape_never_counts_a_message_table_whole(client):
    talent = create_talent("cheap")
    _rows(talent, "delivered", 200)
    _rows(talent, "queued", 100)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_outboundmessage")
    with CaptureQueriesContext(connection) as queries:
        text = client.get("/metrics").content.decode()
    # Planner estimates for the final statuses (pg_stats), exact only for work in flight.
    assert 'fancommunity_outbound_messages_estimated{status="delivered"} 200.0' in text
    assert 'fancommunity_outbound_messages_estimated{status="queued"} 100.0' in text
    for query in queries.captured_queries:
        sql = query["sql"]
        for table in ("messaging_outboundmessage", "messaging_inboundmessage"):
            if f'FROM "{table}"' in sql:
                where = sql.split("WHERE", 1)[1] if "WHERE" in sql else ""
                assert "status" in where or "processed_at" in where or "campaign_id" in where, sql
