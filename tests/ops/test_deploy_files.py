"""Dockerfile, docker-compose.yml and the systemd units, read as data (Docker cannot run here).

The compose services and the units must run the Procfile's lines, so `make run`, Heroku-style
hosts, compose and systemd start the same processes with the same flags.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, str]:
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            lines[name.strip()] = command.strip()
    return lines


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def _shell_command(command: list[str]) -> str:
    assert command[:2] == ["sh", "-c"], command
    # compose reads `$$` as a literal `$`: what the container's shell sees.
    return command[2].replace("$$", "$")


def test_compose_has_the_services_and_each_runs_its_procfile_line():
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "priority", "backup"} <= set(services)
    lines = procfile()
    assert set(lines) == {"web", "worker", "priority"}
    for name in lines:
        assert _shell_command(services[name]["command"]) == lines[name], name


def test_compose_waits_for_healthy_dependencies_and_migrations():
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert _shell_command(services["migrate"]["command"]) == "python manage.py migrate --noinput"
    for name in ("web", "worker", "priority"):
        service = services[name]
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"  # the Redis broker: one queue for every machine
        assert env["DEBUG"] == "false"
        assert "healthcheck" in service and service["healthcheck"]["test"]


def test_uploaded_files_are_on_one_volume_every_process_mounts():
    data = compose()
    services = data["services"]
    for name in ("web", "worker", "priority"):
        mounts = services[name]["volumes"]
        assert "media:/data/media" in mounts, name
        assert services[name]["environment"]["MEDIA_ROOT"] == "/data/media"
    assert "media" in data["volumes"] and "pgdata" in data["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])


def test_health_checks_use_the_health_endpoints():
    services = compose()["services"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    for name, cluster in (("worker", "fancommunity"), ("priority", "priority")):
        assert services[name]["healthcheck"]["test"] == [
            "CMD",
            "python",
            "manage.py",
            "healthcheck",
            "--strict",
            "--cluster",
            cluster,
        ]


def test_dockerfile_builds_the_web_process_with_a_health_check():
    instructions = dockerfile()
    kinds = [kind for kind, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")  # our floor, Python 3.11
    assert "postgresql-client-15" in " ".join(args for kind, args in instructions if kind == "RUN")
    assert ("RUN", "pip install -r requirements.txt") in instructions
    assert kinds.index("COPY") < kinds.index("RUN", kinds.index("COPY"))
    assert any(kind == "USER" and args != "root" for kind, args in instructions)
    health = next(args for kind, args in instructions if kind == "HEALTHCHECK")
    assert "/healthz" in health
    cmd = next(args for kind, args in instructions if kind == "CMD")
    import json

    assert _shell_command(json.loads(cmd)) == procfile()["web"]
    assert "collectstatic" in " ".join(args for kind, args in instructions if kind == "RUN")


def test_systemd_units_run_the_procfile_lines():
    lines = procfile()
    for name in ("web", "worker", "priority"):
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str
        unit.read(ROOT / "deploy" / "systemd" / f"fancommunity-{name}.service")
        service = unit["Service"]
        start = shlex.split(service["ExecStart"])
        assert start[:2] == ["/bin/sh", "-c"] and start[2] == f"exec {lines[name]}", name
        assert service["EnvironmentFile"] == "/etc/fancommunity/env"
        assert service["KillMode"] == "mixed"  # SIGTERM to the main process only (qcluster)
        assert service["Restart"] == "always"
        if name != "web":
            assert "wait_for_db" in service["ExecStartPre"]
    timer = configparser.ConfigParser(interpolation=None)
    timer.read(ROOT / "deploy" / "systemd" / "fancommunity-backup.timer")
    assert timer["Timer"]["Persistent"] == "true"


def test_alert_rules_are_valid_yaml_and_name_only_exported_metrics():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    exported = set(re.findall(r'"(fancommunity_[a-z_]+)"', (ROOT / "fancommunity" / "metrics.py").read_text()))
    assert len(exported) >= 10
    names = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["expr"] and rule["annotations"]["summary"]
            names.add(rule["alert"])
            for metric in re.findall(r"fancommunity_[a-z_]+", rule["expr"]):
                base = re.sub(r"_(bucket|count|sum)$", "", metric)
                assert base in exported, f"{rule['alert']}: {metric} is not exported"
    assert {"FancommunityClusterHeartbeatLate", "FancommunityDatabaseDown", "FancommunityInboundBacklog"} <= names
