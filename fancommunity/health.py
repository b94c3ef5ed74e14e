"""/healthz and /healthz/strict: what is up, per component, as JSON (issue 17).

- database: one `SELECT 1` (and how long it took).
- broker: Redis answers PING (with `REDIS_URL`), or the ORM broker's table answers (the database);
  each task queue's depth and the age of its oldest waiting task.
- clusters: each task cluster (the main one and the priority lane) runs a heartbeat Schedule
  every minute on its own queue (`messaging.tasks.cluster_heartbeat`); the age of its last
  success is the cluster's heartbeat. The results table is shared by every machine, so this sees
  clusters anywhere, which django-q2's own cluster stats cannot on the ORM broker (they live in
  each process's local cache).

`/healthz` answers 200 whenever the database answers (a balancer must not pull a web process
because a task cluster is late) and 503 otherwise; `/healthz/strict` answers 503 when anything is
not ok, for alerts and for the worker containers' health checks (`?cluster=NAME` checks one).
Both are served by `fancommunity.middleware.OpsEndpointsMiddleware` before the HTTPS redirect and the Host check, so a
balancer's plain-HTTP probe on an internal address gets the answer, not a 301 or a 400.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "heartbeat: "
HEARTBEAT_FUNC = "messaging.tasks.cluster_heartbeat"


def cluster_names() -> list[str]:
    """The task clusters this deployment runs: the main one and the priority lane."""
    return [str(settings.Q_CLUSTER["name"]), str(settings.Q_PRIORITY_CLUSTER)]


def heartbeat_schedule_name(cluster: str) -> str:
    return f"{HEARTBEAT_PREFIX}{cluster}"


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the message names the cause
        # Drop the broken connection so the next request reconnects instead of failing again.
        connection.close_if_unusable_or_obsolete()
        return {"ok": False, "vendor": connection.vendor, "error": _short(exc)}
    return {"ok": True, "vendor": connection.vendor, "ms": round((time.perf_counter() - started) * 1000, 1)}


def queue_stats(cluster: str) -> dict[str, Any]:
    """Depth of a cluster's task queue and the age (s) of its oldest waiting task."""
    now = timezone.now()
    if settings.REDIS_URL:
        from django_q.brokers import get_broker
        from django_q.signing import SignedPackage

        broker = get_broker(list_key=cluster)
        depth = int(broker.connection.llen(cluster))
        oldest = 0.0
        if depth:
            head = broker.connection.lindex(cluster, 0)  # rpush at enqueue, blpop at dequeue: 0 is oldest
            try:
                started = SignedPackage.loads(head)["started"]
                oldest = max(0.0, (now - started).total_seconds())
            except Exception:  # a task signed with another key: its age is unknown, the depth is not
                oldest = 0.0
        return {"depth": depth, "oldest_seconds": round(oldest)}
    from django.db.models import Min
    from django_q.models import OrmQ

    # The ORM broker writes lock=now at enqueue and lock=now+retry when a cluster takes a task:
    # waiting tasks are those whose lock passed (taken ones come back after `retry`).
    waiting = OrmQ.objects.filter(key=cluster, lock__lte=now)
    agg = waiting.aggregate(oldest=Min("lock"))
    depth = waiting.count() if agg["oldest"] is not None else 0
    oldest_s = (now - agg["oldest"]).total_seconds() if agg["oldest"] else 0
    return {"depth": depth, "oldest_seconds": round(max(0.0, oldest_s))}


def check_broker() -> dict[str, Any]:
    kind = "redis" if settings.REDIS_URL else "orm"
    result: dict[str, Any] = {"kind": kind}
    try:
        if kind == "redis":
            from django_q.brokers import get_broker

            get_broker().connection.ping()
        result["queues"] = {name: queue_stats(name) for name in cluster_names()}
    except Exception as exc:
        result.update(ok=False, error=_short(exc))
        return result
    result["ok"] = True
    return result


def last_heartbeats() -> dict[str, dt.datetime | None]:
    """When each cluster's heartbeat task last succeeded (None: never, or results pruned)."""
    from django_q.models import Success

    beats: dict[str, dt.datetime | None] = {}
    for name in cluster_names():
        # The results table is bounded (save_limit), and group = the schedule's name.
        beats[name] = (
            Success.objects.filter(group=heartbeat_schedule_name(name))
            .order_by("-stopped")
            .values_list("stopped", flat=True)
            .first()
        )
    return beats


def check_clusters(*, only: str | None = None) -> dict[str, Any]:
    if settings.Q_CLUSTER.get("sync"):
        # Inline mode (tests, demos): tasks run in the calling process; there is no cluster.
        return {name: {"ok": True, "mode": "inline"} for name in cluster_names() if only in (None, name)}
    max_age = settings.HEALTH_HEARTBEAT_MAX_AGE
    now = timezone.now()
    clusters: dict[str, Any] = {}
    try:
        beats = last_heartbeats()
    except Exception as exc:
        return {name: {"ok": False, "error": _short(exc)} for name in cluster_names() if only in (None, name)}
    for name, beat in beats.items():
        if only not in (None, name):
            continue
        if beat is None:
            clusters[name] = {"ok": False, "last_beat_seconds": None, "error": "no heartbeat yet"}
            continue
        age = max(0, round((now - beat).total_seconds()))
        clusters[name] = {"ok": age <= max_age, "last_beat_seconds": age, "max_age_seconds": max_age}
    return clusters


def health_report(*, strict: bool, cluster: str | None = None) -> tuple[int, dict[str, Any]]:
    database = check_database()
    components: dict[str, Any] = {"database": database}
    if database["ok"]:
        components["broker"] = check_broker()
        components["clusters"] = check_clusters(only=cluster)
    else:
        # Everything else reads the database (results, the ORM queue): report it as not checked.
        components["broker"] = {"ok": False, "error": "not checked: database down"}
        components["clusters"] = {}
    all_ok = (
        database["ok"]
        and components["broker"]["ok"]
        and bool(components["clusters"])
        and all(c["ok"] for c in components["clusters"].values())
    )
    if cluster is not None and not components["clusters"] and database["ok"]:
        return 404, {"ok": False, "error": f"unknown cluster {cluster!r}; known: {', '.join(cluster_names())}"}
    ok = all_ok if strict else bool(database["ok"])
    return (200 if ok else 503), {"ok": ok, "strict": strict, **components}


def healthz(request: HttpRequest, *, strict: bool = False) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"ok": False, "error": "use GET"}, status=405)
    cluster = request.GET.get("cluster") or None
    status, body = health_report(strict=strict or request.GET.get("strict") in ("1", "true"), cluster=cluster)
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def healthz_strict(request: HttpRequest) -> HttpResponse:
    return healthz(request, strict=True)


def _short(exc: BaseException) -> str:
    # The endpoint is public: name the kind of failure, log the details (hosts, ports) for operators.
    logger.warning("health check: %s: %s", type(exc).__name__, str(exc).strip()[:500])
    return type(exc).__name__
