"""Each real cluster's heartbeat reaches /healthz/strict (issue 17): the main cluster and the
priority lane, started as processes against a PostgreSQL server of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.sandbox_floor import sandbox_subprocess
from tests import pgtemp
from tests.reliability.processes import ROOT, cluster_env, kill, start_cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


def _healthcheck(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings", "Q_SYNC": "false"}
    return subprocess.run(
        [sys.executable, "manage.py", "healthcheck", "--strict", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_both_clusters_beat_and_strict_health_turns_green(tmp_path):
    if pgtemp.find_bindir() is None:
        pytest.skip("no PostgreSQL")
    with pgtemp.throwaway_postgres() as url:
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
        before = _healthcheck(url)
        assert before.returncode != 0 and '"no heartbeat yet"' in before.stdout
        log = open(tmp_path / "clusters.log", "wb")  # noqa: SIM115
        with sandbox_subprocess(latency_ms=20) as sandbox_url:
            main_env = cluster_env(database_url=url, sandbox_url=sandbox_url)
            lane_env = {**main_env, "Q_CLUSTER_NAME": "priority"}
            procs = [
                start_cluster(main_env, workdir=tmp_path / "main", log=log),
                start_cluster(lane_env, workdir=tmp_path / "lane", log=log),
            ]
            try:
                deadline = time.monotonic() + 150
                while time.monotonic() < deadline:
                    result = _healthcheck(url)
                    if result.returncode == 0:
                        break
                    time.sleep(3)
                assert result.returncode == 0, (
                    result.stdout + (tmp_path / "clusters.log").read_text(errors="replace")[-2000:]
                )
                assert _healthcheck(url, "--cluster", "priority").returncode == 0
            finally:
                for proc in procs:
                    kill(proc)
                log.close()
