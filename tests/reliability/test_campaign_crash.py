"""Crash safety: a real qcluster, SIGKILLed several times mid-blast, still texts everyone once.

The sandbox's ledger (one line per message it accepted, written before it answers) is the ground
truth. The qcluster runs as a subprocess against this test's PostgreSQL database, which is why the
test commits its rows (transaction=True).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Fan
from bench.sandbox_floor import sandbox_subprocess
from messaging.campaigns.services import campaign_report, campaign_schedule
from messaging.models import Campaign, OutboundMessage
from tests.factories import create_talent
from tests.reliability import processes

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 1500
KILLS = 3
ROOT = processes.ROOT
# The sandbox ledger's readers are the reliability tests' own (tests/reliability/processes.py).
_ledger_count, _ledger = processes.ledger_count, processes.ledger


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _start_cluster(sandbox_url: str, log) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "Q_SYNC": "false",
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": sandbox_url,
        "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
        "TWILIO_HTTP_TIMEOUT": "3",
        # Status callbacks go nowhere fast (connection refused) instead of to a public host.
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "Q_WORKERS": "2",
        "Q_TIMEOUT": "10",
        "Q_RETRY": "20",
        "CAMPAIGN_LEASE_SECONDS": "4",
        "CAMPAIGN_TASK_SECONDS": "3",
        "CAMPAIGN_PARALLEL_TASKS": "2",
        "LOG_LEVEL": "WARNING",
    }
    # Its own session: SIGKILL to the group takes the cluster's worker processes down with it.
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )


def _diagnose(campaign: Campaign, tmp_path: Path) -> str:
    campaign.refresh_from_db()
    rows = OutboundMessage.objects.filter(campaign=campaign)
    states = Counter(rows.values_list("status", "error_code"))
    errors = list(rows.exclude(error_message="").values_list("error_message", flat=True)[:3])
    log = (tmp_path / "qcluster.log").read_text(errors="replace")[-3000:]
    return f"campaign {campaign.status}; rows {dict(states)}; errors {errors}\n{log}"


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_sigkilled_qcluster_still_sends_every_recipient_exactly_once(tmp_path):
    talent = create_talent("crash", parts_per_second=150, sender_number="+15005550006")
    now = timezone.now()
    Fan.objects.bulk_create(
        Fan(
            talent=talent,
            phone=f"+1415{7000000 + i:07d}",
            first_name=f"F{i}",
            status=Fan.Status.ACTIVE,
            time_zone="UTC",
            joined_at=now,
        )
        for i in range(RECIPIENTS)
    )
    # Quiet hours 00:00-00:00 = none, so the test does not depend on the time of day.
    talent.quiet_hours_start = talent.quiet_hours_end = timezone.datetime(2000, 1, 1).time()
    talent.save()
    # Due in two seconds, counted from now (creating the fans may take seconds on a loaded
    # machine): a start already due would run the dispatcher inline in this (Q_SYNC) process and
    # "send" through its locmem backend (seen: 1,500 rows queued, an empty ledger).
    send_at = timezone.now() + timezone.timedelta(seconds=2)
    campaign = Campaign.objects.create(
        talent=talent,
        name="Crash",
        body="Hi {first_name}, crash test",
        schedule_mode=Campaign.ScheduleMode.AT,
        send_at=send_at,
    )
    campaign_schedule(campaign=campaign, actor=None)
    time.sleep(max(0.0, (send_at - timezone.now()).total_seconds()) + 0.1)
    ledger = tmp_path / "ledger.jsonl"
    log = open(tmp_path / "qcluster.log", "wb")  # noqa: SIM115
    # 240 s like the other multi-process tests: at load 24 (seven jobs on 2 cores) each cluster
    # restart took ~30 s and three kills used up a 90 s budget before the blast could finish.
    deadline = time.monotonic() + 240
    with sandbox_subprocess(latency_ms=20, extra=["--ledger", str(ledger)]) as sandbox_url:
        proc = _start_cluster(sandbox_url, log)
        t0 = time.monotonic()
        try:
            kills = 0
            while kills < KILLS:
                before = _ledger_count(ledger)
                # Kill once this cluster has sent something more, while the blast is still on.
                while _ledger_count(ledger) < before + 100 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert _ledger_count(ledger) < RECIPIENTS, "the blast ended before the kills"
                assert _ledger_count(ledger) >= before + 100, _diagnose(campaign, tmp_path)
                _kill(proc)
                print(f"kill {kills + 1} at {time.monotonic() - t0:.1f}s, ledger {_ledger_count(ledger)}")
                kills += 1
                proc = _start_cluster(sandbox_url, log)
            while time.monotonic() < deadline:
                campaign.refresh_from_db()
                if campaign.status == Campaign.Status.COMPLETED:
                    print(f"completed at {time.monotonic() - t0:.1f}s")
                    break
                time.sleep(0.25)
        finally:
            _kill(proc)
            log.close()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED, _diagnose(campaign, tmp_path)
    sent = Counter(record["To"] for record in _ledger(ledger))
    phones = set(Fan.objects.filter(talent=talent).values_list("phone", flat=True))
    assert set(sent) == {str(p) for p in phones}
    assert max(sent.values()) == 1, [to for to, n in sent.items() if n > 1][:10]
    assert len(sent) == RECIPIENTS
    ledger_sids = {record["sid"] for record in _ledger(ledger)}
    rows = OutboundMessage.objects.filter(campaign=campaign)
    assert set(rows.values_list("provider_sid", flat=True)) == ledger_sids
    assert campaign_report(campaign=campaign)["sent"] == RECIPIENTS
