"""django-q2 tasks of the send path. Thin: take ids, call a service, enqueue follow-ups on commit.

Any task may run twice (ORM broker redelivery) or be lost (Redis broker, SIGKILL): the services
are idempotent (claims, unique rows, forward-only statuses) and the periodic dispatcher revives
whatever went quiet.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from accounts.services import pending_signups_expire
from messaging.audience.import_staging import staged_sweep
from messaging.audience.imports import IMPORT_TASK as IMPORT_FUNC
from messaging.audience.imports import import_batch_run
from messaging.automations.series import scheduled_run_due
from messaging.campaigns.queue import DISPATCH_FUNC, SEND_FUNC, enqueue_dispatch, enqueue_send
from messaging.conversations.lane import priority_lane_run, priority_messages_reconcile, priority_rules_run
from messaging.models import ImportBatch
from messaging.sending.carriers import LOOKUP_TASK, campaign_carriers_lookup
from messaging.sending.dispatch import campaign_dispatch
from messaging.sending.worker import campaign_send_batches, hand_over_send

logger = logging.getLogger(__name__)

DISPATCH_SCHEDULE_NAME = "campaigns: dispatcher"
PRIORITY_SWEEP_FUNC = "messaging.tasks.sweep_priority_messages"
# The periodic work, one Schedule each, run by the main cluster (never one Schedule per campaign).
PERIODIC = {
    DISPATCH_SCHEDULE_NAME: DISPATCH_FUNC,
    "priority lane: sweeper": PRIORITY_SWEEP_FUNC,
    "home: daily figures": "messaging.tasks.rollup_home_figures",
    "webhooks: dispatcher": "fancommunity.webhooks_out.tasks.dispatch_webhooks",  # issue 16
    "audience: staged imports sweeper": "messaging.tasks.sweep_staged_imports",
    "automations: welcome steps and date messages": "messaging.tasks.run_scheduled_automations",  # issue 14
    "conversations: snoozes that ran out": "messaging.tasks.wake_snoozed_conversations",  # issue 13
}


def dispatch_campaigns() -> dict:
    """Every minute: start due campaigns, sweep dead leases, revive stalled sends."""
    result = campaign_dispatch()
    for campaign_id in result["started"] + result["revive"]:
        enqueue_send(campaign_id)
    return result


def send_campaign(campaign_id: int) -> dict:
    """Send batches of one campaign for up to CAMPAIGN_TASK_SECONDS, then hand over to a fresh task.

    Handing over keeps each task well inside the queue's timeout, lets other campaigns' tasks in
    between, and means a killed worker loses at most one budget of work (its rows' leases expire
    and are reconciled).
    """
    hand_over = (lambda: hand_over_send(campaign_id)) if settings.CAMPAIGN_HAND_OVER else None
    report = campaign_send_batches(campaign_id=campaign_id, hand_over=hand_over)
    if report.more_due and not report.handed_over:
        transaction.on_commit(lambda: async_task(SEND_FUNC, campaign_id, group=f"campaign-{campaign_id}"))
    return {"batches": report.batches, "sent": report.sent, "more_due": report.more_due, **report.counts}


def run_import(batch_id: int) -> dict:
    """Run a queued fan import (a file too big for the request). A redelivered task finds the
    batch completed and changes nothing; an interrupted one resumes (the import is an upsert)."""
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return {"batch": batch_id, "status": "gone"}
    batch = import_batch_run(batch=batch)
    return {"batch": batch.pk, "status": batch.status, "created": batch.created_count, "updated": batch.updated_count}


def enqueue_import(batch_id: int) -> None:
    async_task(IMPORT_FUNC, batch_id, group="imports")


def run_priority_lane() -> dict:
    """The priority lane: apply the rules to stored inbound texts and send one-to-one texts in
    batches at each sender's pace, until both are drained (then it hands over or ends)."""
    return priority_lane_run()


def run_inbound_rules() -> dict:
    """The priority lane's rule processor loop (stored inbound texts -> actions, links, replies),
    niced below the sender loop beside it."""
    return priority_rules_run()


def run_priority_sends() -> dict:
    """The priority lane's sender loop (one-to-one texts at each sender's pace, compliance first)."""
    return priority_lane_run(part="sends")


def sweep_priority_messages() -> dict:
    """Every minute: re-enqueue replies whose task was lost; expired claims become uncertain."""
    return priority_messages_reconcile()


# Keep less (issue 15): periodic work at its own interval, {name: (func, minutes)}.
RETENTION_FUNC = "messaging.tasks.apply_retention"
EXPIRE_SIGNUPS_FUNC = "messaging.tasks.expire_pending_signups"
PERIODIC_EVERY = {
    "privacy: retention and old sessions (daily)": (RETENTION_FUNC, 24 * 60),
    # Codes live 10 minutes: a run every 10 minutes removes an unverified signup within 20.
    "privacy: expired signups": (EXPIRE_SIGNUPS_FUNC, 10),
    # Issue 13: hourly, each member at most once in 20 hours (digest.DIGEST_MIN_HOURS).
    "conversations: email digests": ("messaging.tasks.send_inbox_digests", 60),
    "api: idempotency keys past their window (hourly)": ("fancommunity.api_v1.tasks.prune_idempotency_keys", 60),
    # Issue 17 §5: old wiped message rows to the archive (messaging/sending/archive.py).
    "sending: archive old messages (daily)": ("messaging.tasks.archive_messages", 24 * 60),
    "sending: 10DLC registration of the senders (hourly)": ("messaging.tasks.check_sender_registrations", 60),
}


def archive_messages() -> dict:
    """Daily: message rows past MESSAGE_ARCHIVE_AFTER_DAYS, already wiped, to the archive."""
    from messaging.sending.archive import archive_messages as run

    report = run()
    return {"rows": report.rows, "files": len(report.files), "bytes": report.bytes_written}


def check_sender_registrations() -> dict:
    """Hourly: each 10DLC sender's brand and campaign status at Twilio (left out of sending until approved)."""
    from messaging.sending.registration import check_registrations

    report = check_registrations()
    return {"checked": report.checked, "held_back": report.held_back, "errors": len(report.errors)}


def apply_retention() -> dict:
    """Daily: each talent's retention policy, then Django's expired sessions (clearsessions)."""
    from django.contrib.sessions.models import Session

    from messaging.privacy.retention import retention_apply

    report = retention_apply()
    # What `manage.py clearsessions` does for the database backend, without a subprocess.
    sessions, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return {
        "inbound_wiped": report.inbound_wiped,
        "outbound_wiped": report.outbound_wiped,
        "media_wiped": report.media_wiped,
        "import_reports_wiped": report.import_reports_wiped,
        "sessions_cleared": sessions,
        "signups_expired": pending_signups_expire(),
    }


def expire_pending_signups() -> int:
    """Every 10 minutes: signups whose code expired go, with the typed number and profile."""
    return pending_signups_expire()


def ensure_periodic_schedules(**kwargs) -> None:
    """Create the periodic Schedules, once each (idempotent; run after every migrate)."""
    from django_q.models import Schedule

    for name, func in PERIODIC.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
        )
    for name, (func, minutes) in PERIODIC_EVERY.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )


def wake_snoozed_conversations() -> int:
    """Every minute: snoozed conversations whose time came reopen, without anyone opening a page."""
    from messaging.conversations.services import wake_snoozed

    return wake_snoozed()


def send_inbox_digests() -> dict:
    """Hourly: the email digest of waiting conversations, for members who asked for it."""
    from messaging.conversations.digest import digests_send

    report = digests_send()
    return {"sent": report.sent, "empty": report.skipped_empty, "recent": report.skipped_recent}


def fetch_inbound_media(message_id: int) -> dict:
    """An inbound MMS's files: fetched from the provider, checked, stored (queued by the rules)."""
    from messaging.conversations.media import media_fetch

    return media_fetch(message_id=message_id)


def refresh_campaign_themes(campaign_id: int) -> dict:
    """Recount the themes of one campaign's free-text replies (queued by the campaign folder when
    its snapshot is older than a minute; messaging/conversations/themes.py)."""
    from messaging.conversations.themes import themes_refresh

    snapshot = themes_refresh(campaign_id)
    return {"campaign": campaign_id, "words": len(snapshot.words) if snapshot else 0}


def cluster_heartbeat() -> dict:
    """Every minute on each cluster's own queue (issue 17): its saved result is the cluster's
    heartbeat, which /healthz/strict and /metrics read (fancommunity/health.py)."""
    import os
    import socket

    from django_q.conf import Conf

    return {"cluster": Conf.CLUSTER_NAME, "host": socket.gethostname(), "pid": os.getpid()}


def ensure_heartbeat_schedules(**kwargs) -> None:
    """One heartbeat Schedule per cluster, bound to it (idempotent; run after every migrate).

    The main cluster's scheduler runs schedules without a cluster; the priority cluster's only
    those naming it, and its task lands on its own queue, so each beat proves that cluster works.
    """
    from django_q.models import Schedule

    from fancommunity.health import HEARTBEAT_FUNC, cluster_names, heartbeat_schedule_name

    main, *others = cluster_names()
    for name in [main, *others]:
        Schedule.objects.update_or_create(
            name=heartbeat_schedule_name(name),
            defaults={
                "func": HEARTBEAT_FUNC,
                "schedule_type": Schedule.MINUTES,
                "minutes": 1,
                "repeats": -1,
                "cluster": None if name == main else name,
            },
        )


def resume_on_worker_start(**kwargs) -> None:
    """A qcluster worker just started: resume sending campaigns now instead of after the broker's
    retry period (tasks in flight when the previous cluster was killed come back only then)."""
    from django.db import close_old_connections
    from django_q.conf import Conf

    if settings.Q_CLUSTER.get("sync"):
        return  # inline mode runs every task through a throwaway "worker": nothing to resume
    if Conf.CLUSTER_NAME != Conf.PREFIX:
        return  # the priority cluster: its queue is for replies, never for blasts
    try:
        import datetime as dt

        result = campaign_dispatch(stalled_after=dt.timedelta(0))
        # A campaign this start-up started gets its CAMPAIGN_PARALLEL_TASKS tasks, as from the
        # dispatcher: with one, a blast that fits one task's budget never reached a second
        # cluster (issue 17: the ORM-broker split). A stalled one gets one more per worker.
        for campaign_id in result["started"]:
            enqueue_send(campaign_id)
        for campaign_id in result["revive"]:
            enqueue_send(campaign_id, tasks=1)
    except Exception:  # never keep a worker from starting
        logger.exception("resume on worker start failed")
    finally:
        close_old_connections()


# Re-exported for callers of the task layer (the enqueue helpers live beside the services that use them).
__all__ = [
    "DISPATCH_FUNC",
    "apply_retention",
    "archive_messages",
    "check_sender_registrations",
    "expire_pending_signups",
    "IMPORT_FUNC",
    "SEND_FUNC",
    "dispatch_campaigns",
    "enqueue_dispatch",
    "enqueue_import",
    "enqueue_send",
    "ensure_periodic_schedules",
    "resume_on_worker_start",
    "run_import",
    "run_inbound_rules",
    "run_priority_lane",
    "run_priority_sends",
    "send_campaign",
    "sweep_priority_messages",
]


def rollup_home_figures() -> dict:
    """Every minute: the home page's rollup (closed days once, snapshots every 10 min) and the
    stored results of campaigns that are sending or finished recently (cheap when nothing is due)."""
    from messaging.campaigns.services import campaign_results_refresh, campaigns_results_due
    from messaging.console.rollup import rollup_all

    done = rollup_all()
    refreshed = 0
    for campaign in campaigns_results_due()[:20]:
        campaign_results_refresh(campaign=campaign)
        refreshed += 1
    return {**done, "campaign_results": refreshed}


def sweep_staged_imports() -> dict:
    """Every minute: delete uploads staged for an import nobody confirmed within a day (issue 12)."""
    return {"removed": staged_sweep()}


def run_scheduled_automations() -> dict:
    """Every minute (issue 14): due welcome steps and date messages go to the campaign engine
    (each occurrence campaign's send tasks are enqueued on commit by the service)."""
    return scheduled_run_due()


def lookup_carriers(campaign_id: int) -> dict:
    """Look up a chunk of a starting campaign's recipients' carriers (issue 17), then hand over."""
    result = campaign_carriers_lookup(campaign_id=campaign_id)
    if result["more"]:
        transaction.on_commit(lambda: async_task(LOOKUP_TASK, campaign_id, group=f"campaign-{campaign_id}"))
    return result
