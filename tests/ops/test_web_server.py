"""The Procfile's `web:` line, started as written (granian, the pinned version): it loads the
Django application and answers over HTTP. The deploy files repeat that line (test_deploy_files);
this is the check that the line itself runs, so a bad flag or a missing package fails here
rather than on the first deploy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ops.test_deploy_files import procfile

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own local server
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_the_procfile_web_line_serves_the_application():
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    server = subprocess.Popen(  # noqa: S602 - the Procfile's line, through the shell as honcho runs it
        procfile()["web"],
        shell=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status = _status(f"http://127.0.0.1:{port}/webhooks/twilio/inbound/")
                break
            except OSError:
                time.sleep(0.2)
        assert server.poll() is None, server.stderr.read().decode()[-2000:] if server.stderr else ""
        assert status == 405  # Django's require_POST answered: the app is loaded and routing
        assert _status(f"http://127.0.0.1:{port}/healthz") in (200, 503)  # JSON either way
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=25)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
