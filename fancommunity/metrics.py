"""/metrics: Prometheus text format (prometheus-client), for a scraper with a token or on an
allowed network (issue 17).

Every scrape must stay cheap on tables of tens of millions of rows, so nothing here counts a
message table whole:
- messages by final status are planner estimates (PostgreSQL's pg_class.reltuples times the
  status column's most-common-value frequencies, refreshed by autovacuum's ANALYZE), named
  `..._estimated`;
- the statuses that are work in flight (pending, claimed, uncertain) are exact, counted through
  the partial indexes that exist for the claim and the sweeper, and capped at COUNT_CAP;
- the send rate per sender: `rate(fancommunity_sender_sent_parts_total[1m])`, counted in the
  database by every send record (campaigns and the priority lane, on every machine); each sending
  campaign's sent count (the (campaign, status) index) is there too;
- the inbound backlog counts through the `inbound_unprocessed` partial index;
- webhook latency is a histogram observed in the web processes (set PROMETHEUS_MULTIPROC_DIR to
  one directory per machine when the web runs several worker processes, or each scrape sees one worker).
On SQLite (the embedded default: small tables) the counts are exact.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from fancommunity import health

COUNT_CAP = 10_000_000
IN_FLIGHT = ("pending", "claimed", "uncertain")

WEBHOOK_SECONDS = Histogram(
    "fancommunity_webhook_seconds",
    "Time to answer a Twilio webhook, by hook (Twilio gives up after 15 s).",
    ["hook", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
    registry=None,  # registered per scrape (below), so tests and multiprocess mode stay separate
)


def observe_webhook(path: str, status_code: int, seconds: float) -> None:
    hook = path.removeprefix("/webhooks/twilio/").strip("/").split("/")[0] or "other"
    if hook not in ("inbound", "status"):
        hook = "other"  # bounded label values, whatever paths are probed
    WEBHOOK_SECONDS.labels(hook=hook, code=f"{status_code // 100}xx").observe(seconds)


def allowed(request: HttpRequest) -> bool:
    """A bearer token (METRICS_TOKEN) from anywhere, or a peer address on METRICS_ALLOWED_NETWORKS.

    REMOTE_ADDR only, never X-Forwarded-For: behind a proxy every request would otherwise claim
    an allowed address. Scrape through the proxy with the token instead.
    """
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in network for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return HttpResponse(
            "metrics: send Authorization: Bearer <METRICS_TOKEN> or scrape from METRICS_ALLOWED_NETWORKS\n",
            status=403,
            content_type="text/plain",
        )
    registry = CollectorRegistry()
    registry.register(StateCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every web worker process's histogram files
    else:
        registry.register(WEBHOOK_SECONDS)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class StateCollector(Collector):
    """Reads the database and the broker once per scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        database = health.check_database()
        yield _gauge("fancommunity_database_up", "1 when the database answers SELECT 1.", database["ok"])
        if not database["ok"]:
            return
        broker = health.check_broker()
        yield _gauge("fancommunity_broker_up", "1 when the task broker answers.", broker["ok"], kind=broker["kind"])
        if broker["ok"]:
            depth = GaugeMetricFamily("fancommunity_task_queue_depth", "Tasks waiting in a queue.", labels=["cluster"])
            age = GaugeMetricFamily(
                "fancommunity_task_queue_oldest_seconds", "Age of a queue's oldest waiting task.", labels=["cluster"]
            )
            for name, stats in broker["queues"].items():
                depth.add_metric([name], stats["depth"])
                age.add_metric([name], stats["oldest_seconds"])
            yield depth
            yield age
        beat = GaugeMetricFamily(
            "fancommunity_cluster_heartbeat_age_seconds",
            "Seconds since a task cluster's heartbeat task last succeeded (absent: never).",
            labels=["cluster"],
        )
        if not settings.Q_CLUSTER.get("sync"):
            now = timezone.now()
            for name, stopped in health.last_heartbeats().items():
                if stopped is not None:
                    beat.add_metric([name], max(0.0, (now - stopped).total_seconds()))
        yield beat
        yield from self._messages()
        yield from self._campaigns()
        yield from self._senders()
        yield from self._inbound()

    def _messages(self) -> Iterator[GaugeMetricFamily]:
        from messaging.sms.models import OutboundMessage

        table = OutboundMessage._meta.db_table
        estimated = GaugeMetricFamily(
            "fancommunity_outbound_messages_estimated",
            "Outbound messages by status (planner estimate on PostgreSQL; exact on SQLite).",
            labels=["status"],
        )
        for status, n in _status_estimates(table).items():
            estimated.add_metric([status], n)
        yield estimated
        in_flight = GaugeMetricFamily(
            "fancommunity_outbound_messages_in_flight",
            f"Outbound messages pending, claimed or uncertain (exact, capped at {COUNT_CAP}).",
            labels=["status"],
        )
        for status in IN_FLIGHT:
            in_flight.add_metric([status], _capped_count(OutboundMessage.objects.filter(status=status)))
        yield in_flight
        # The priority lane's queue: replies and compliance texts waiting (lane index).
        lane = OutboundMessage.objects.filter(status="pending", campaign__isnull=True)
        oldest = lane.order_by("lane", "id").values_list("created_at", flat=True).first()
        yield _gauge("fancommunity_priority_lane_pending", "One-to-one texts waiting to be sent.", _capped_count(lane))
        yield _gauge(
            "fancommunity_priority_lane_oldest_seconds",
            "Age of the first text in the priority lane's order.",
            (timezone.now() - oldest).total_seconds() if oldest else 0,
        )

    def _campaigns(self) -> Iterator[GaugeMetricFamily]:
        from messaging.campaigns.models import Campaign
        from messaging.campaigns.services import SENT_STATES
        from messaging.sms.models import OutboundMessage

        sent = GaugeMetricFamily(
            "fancommunity_campaign_sent_messages",
            "Messages of a sending campaign the provider accepted; rate() of it is the send rate.",
            labels=["talent", "sender", "campaign"],
        )
        pending = GaugeMetricFamily(
            "fancommunity_campaign_pending_messages",
            "Messages of a sending campaign not sent yet (due now or held for local time).",
            labels=["talent", "sender", "campaign"],
        )
        sending = Campaign.objects.filter(status=Campaign.Status.SENDING).select_related("talent")[:50]
        for campaign in sending:
            talent = campaign.talent
            labels = [talent.slug, str(talent.sender_number or talent.messaging_service_sid or ""), str(campaign.pk)]
            rows = OutboundMessage.objects.filter(campaign_id=campaign.pk)
            sent.add_metric(labels, rows.filter(status__in=SENT_STATES).count())
            pending.add_metric(labels, _capped_count(rows.filter(status="pending")))
        yield sent
        yield pending

    def _senders(self) -> Iterator[CounterMetricFamily]:
        from accounts.models import Talent
        from messaging.sending.models import SenderDailyCount
        from messaging.sending.pacing import SENT_PREFIX
        from messaging.sending.senders import pacific_day

        # SMS parts each sender sent today (US/Pacific; the count restarts at midnight there,
        # which rate() reads as a counter reset): campaigns and the priority lane, every machine.
        sent = CounterMetricFamily(
            "fancommunity_sender_sent_parts",
            "SMS parts a sender (number or Messaging Service) sent since midnight US/Pacific.",
            labels=["talent", "sender"],
        )
        today = SenderDailyCount.objects.filter(day=pacific_day(timezone.now()), cap_key__startswith=SENT_PREFIX)
        rows = list(today.order_by("talent_id", "cap_key")[:1000])
        slugs = dict(Talent.objects.filter(pk__in={r.talent_id for r in rows}).values_list("pk", "slug"))
        for row in rows:
            sent.add_metric([slugs.get(row.talent_id, ""), row.cap_key[len(SENT_PREFIX) :]], row.parts)
        yield sent

    def _inbound(self) -> Iterator[GaugeMetricFamily]:
        from messaging.conversations.inbound import inbound_backlog

        backlog = inbound_backlog()
        yield _gauge(
            "fancommunity_inbound_backlog", "Stored inbound texts the rules have not reached.", backlog["count"]
        )
        yield _gauge(
            "fancommunity_inbound_backlog_oldest_seconds",
            "Age of the oldest unprocessed text.",
            backlog["oldest_seconds"],
        )


def _gauge(name: str, documentation: str, value: Any, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), float(value))
    return family


def _capped_count(queryset: Any) -> int:
    # COUNT over a LIMITed subquery: a runaway backlog costs at most COUNT_CAP index entries.
    return queryset.values("id")[:COUNT_CAP].count()


def _status_estimates(table: str) -> dict[str, int]:
    if connection.vendor != "postgresql":
        from django.db.models import Count

        from messaging.sms.models import OutboundMessage

        return dict(OutboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by())
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.reltuples, s.most_common_vals::text::text[], s.most_common_freqs
            FROM pg_class c
            LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname
                AND s.attname = 'status'
            WHERE c.oid = to_regclass(%s)
            """,
            [table],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0 or not row[1]:
        return {}  # never analysed yet: no estimate rather than a wrong one
    total, values, freqs = row
    return {value: round(total * freq) for value, freq in zip(values, freqs, strict=False)}
