"""Inbound webhook: signed Twilio-shaped POSTs handled in-process (no network), on PostgreSQL.

Two workloads of BENCH_INBOUND texts each: STOP from active fans (status change + consent record
+ confirmation queued on the priority lane) and a first text from strangers (pending fan + signed
link queued). Floor: GET /healthz through the same client (Django's request cycle + SELECT 1).
Target: p95 under 100 ms per webhook, so Twilio gets its answer long before its 15 s timeout.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid

from bench.common import emit, ensure_talent, setup_django

COUNT = int(os.environ.get("BENCH_INBOUND", "500"))


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    setup_django()
    from django.conf import settings
    from django.test import Client
    from django_q.brokers import get_broker
    from twilio.request_validator import RequestValidator

    from accounts.models import Fan
    from consent.models import ConsentRecord
    from messaging.models import InboundMessage, OutboundMessage

    settings.RATELIMIT_ENABLED = False  # one client address sends everything here
    talent = ensure_talent("bench-inbound")
    Fan.objects.filter(talent=talent).delete()
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    url = settings.PUBLIC_BASE_URL + "/webhooks/twilio/inbound/"
    client = Client()

    def post(body: str, from_: str) -> float:
        sid = "SM" + uuid.uuid4().hex
        payload = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": settings.TWILIO_ACCOUNT_SID,
                   "From": from_, "To": str(talent.sender_number), "Body": body, "NumMedia": "0", "NumSegments": "1",
                   "SmsStatus": "received", "ApiVersion": "2010-04-01"}  # fmt: skip
        signature = validator.compute_signature(url, payload)
        start = time.perf_counter()
        response = client.post("/webhooks/twilio/inbound/", payload, HTTP_X_TWILIO_SIGNATURE=signature)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.status_code
        return elapsed

    fans = [
        Fan(talent=talent, phone=f"+1415{2000000 + n:07d}", status=Fan.Status.ACTIVE, link_nonce="b")
        for n in range(COUNT)
    ]
    Fan.objects.bulk_create(fans)
    floor = []
    for _ in range(COUNT):
        start = time.perf_counter()
        client.get("/healthz")
        floor.append(time.perf_counter() - start)
    for name, body, numbers in [
        ("STOP from an active fan", "STOP", [str(f.phone) for f in fans]),
        ("first text from a stranger", "hi!", [f"+1646{3000000 + n:07d}" for n in range(COUNT)]),
    ]:
        times = [post(body, number) for number in numbers]
        p95 = _p(times, 95) * 1000
        emit(
            "inbound_webhook",
            f"{name}: p95 latency",
            p95,
            "ms",
            target="< 100 ms",
            ok=p95 < 100,
            p50_ms=round(_p(times, 50) * 1000, 2),
            per_second=round(len(times) / sum(times), 1),
            floor_p95_ms=round(_p(floor, 95) * 1000, 2),
            floor="GET /healthz through the same in-process client",
        )
    assert ConsentRecord.objects.filter(talent=talent, action="withdrawn").count() == COUNT
    get_broker(settings.Q_PRIORITY_CLUSTER).purge_queue()
    InboundMessage.objects.filter(talent=talent).delete()
    OutboundMessage.objects.filter(talent=talent).delete()
    Fan.objects.filter(talent=talent).delete()


if __name__ == "__main__":
    main()
