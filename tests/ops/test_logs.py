"""Logs never carry a fan's phone number or message text, in either format (issue 17)."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
from django.conf import settings

from fancommunity.logs import redact

PHONE = "+14155552671"


def _configured(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    """The project's own LOGGING dict, with its console handler writing to a buffer."""
    config = json.loads(json.dumps(settings.LOGGING, default=str))
    config["filters"] = settings.LOGGING["filters"]
    config["formatters"] = settings.LOGGING["formatters"]
    config["handlers"]["console"]["formatter"] = fmt
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    logging.config.dictConfig(config)
    return logging.getLogger("messaging.test_logs"), stream


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_phones_and_texts_never_reach_the_log(fmt):
    logger, stream = _configured(fmt)
    logger.warning("reconcile lookup failed for a row to %s: %s", PHONE, "timeout")
    logger.info(
        "number (415) 555-2671 or 4155552671 or %2B14155552671 in a url",
        extra={"body": "my secret text", "to": PHONE, "campaign": 7},
    )
    try:
        raise ValueError(f"duplicate key: Key (talent_id, phone)=(3, {PHONE}) already exists")
    except ValueError:
        logger.exception("import failed")
    out = stream.getvalue()
    assert "2671" not in out, out
    assert "my secret text" not in out
    assert out.count("[phone]") >= 5
    if fmt == "json":
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert [entry["level"] for entry in lines] == ["WARNING", "INFO", "ERROR"]
        assert lines[1]["campaign"] == 7 and "body" not in lines[1] and "to" not in lines[1]
        assert "ValueError" in lines[2]["exception"]
        assert lines[0]["message"] == "reconcile lookup failed for a row to [phone]: timeout"
    else:
        assert "reconcile lookup failed for a row to [phone]: timeout" in out


def test_redaction_keeps_ids_and_times_readable():
    assert redact("campaign 42 batch 500 at 2026-12-01 13:29:01 took 0.25 s") == (
        "campaign 42 batch 500 at 2026-12-01 13:29:01 took 0.25 s"
    )
    assert redact("to +44 20 7946 0958 and +14155552671.") == "to [phone] and [phone]."


def test_log_format_is_checked(monkeypatch):
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='tests.settings'; django.setup()",
        ],
        env={**__import__("os").environ, "LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "LOG_FORMAT: expected plain or json" in result.stderr
