"""The web's CPU a request under granian itself, texts only (issue 10, seventh session).

    python -m tests.pgtemp --durable -- sh -c '.venv/bin/python manage.py migrate -v0 && \
        WEBHOOK_GRANIAN="1x8 2x8 4x8 2x16" .venv/bin/python -m bench.webhook_granian'

bench/webhook_threads.py measures the application under N threads of one process; this starts
granian on the same application and database (the Procfile's web flags, workers x blocking threads
given), fires pre-signed requests with the celebrity bench's load client (bench/celebrity_client.py,
aiohttp, WEBHOOK_GRANIAN_CONCURRENCY in flight, default 50) and reports granian's CPU (its whole
session, from /proc) per refused GET and per first text from a new number, with the wall rate.
A few seconds a setting, no lane, no sandbox, no status callbacks: what the server adds to a
request, to set beside the in-process figures. Not a bench_*.py module: `make bench` does not run it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import proc_cpu
from bench import webhook_cpu as base

SETTINGS = os.environ.get("WEBHOOK_GRANIAN", "4x8 2x16").split()
TEXTS = int(os.environ.get("WEBHOOK_GRANIAN_TEXTS", "3000"))
CONCURRENCY = int(os.environ.get("WEBHOOK_GRANIAN_CONCURRENCY", "50"))
WARMUP = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fire(workdir: Path, web: subprocess.Popen, spec: dict) -> tuple[float, float]:
    """One batch through the load client: (granian's CPU ms a request, requests a second)."""
    spec_in, spec_out = workdir / "in.json", workdir / "out.json"
    spec_in.write_text(json.dumps(spec))
    group = {"web": proc_cpu.session(web.pid)}
    cpu, began = proc_cpu.snapshot(group)["web"], time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench.celebrity_client", str(spec_in), str(spec_out)], check=True)
    wall, cpu = time.perf_counter() - began, proc_cpu.snapshot(group)["web"] - cpu
    status = json.loads(spec_out.read_text())["status"]
    wrong = [code for code in status if code not in (200, 405)]
    if wrong:
        raise SystemExit(f"{len(wrong)} requests were not answered: {sorted(set(wrong))}")
    return cpu * 1000 / len(status), len(status) / wall


def _one(setting: str, port: int, texts: list, workdir: Path) -> None:
    workers, threads = setting.split("x")
    command = ["granian", "fancommunity.wsgi:application", "--interface", "wsgi", "--host", "127.0.0.1",
               "--port", str(port), "--workers", workers, "--blocking-threads", threads, "--no-ws",
               "--no-access-log"]  # fmt: skip
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    log = open(workdir / f"granian-{setting}.log", "wb")  # noqa: SIM115 (the child owns it)
    web = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(base.BASE + "/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        spec = {"url": base.BASE + base.INBOUND, "concurrency": CONCURRENCY, "timeout_s": 15, "budget_s": 300}
        posts = [[body.decode(), signature] for body, signature in texts]
        _fire(workdir, web, {**spec, "method": "POST", "requests": posts[:WARMUP]})  # URLconf, connections
        get_ms, get_rate = _fire(workdir, web, {**spec, "method": "GET", "count": TEXTS})
        text_ms, text_rate = _fire(workdir, web, {**spec, "method": "POST", "requests": posts[WARMUP:]})
        print(
            f"granian {setting}: refused GET {get_ms:.3f} ms CPU ({get_rate:.0f}/s), "
            f"first text {text_ms:.3f} ms CPU ({text_rate:.0f}/s); load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    finally:
        os.killpg(web.pid, 15)
        web.wait(30)


def main() -> None:
    port = _free_port()
    base.BASE = f"http://127.0.0.1:{port}"  # signed over the URL the server checks (PUBLIC_BASE_URL)
    base.configure()
    from bench.common import ensure_talent

    talent = ensure_talent("bench-webhook-granian")
    base.clean(talent)
    texts = base.signed_texts(talent, (TEXTS + WARMUP) * len(SETTINGS))
    workdir = Path(tempfile.mkdtemp(prefix="webhook_granian_"))
    try:
        for i, setting in enumerate(SETTINGS):
            _one(setting, port, texts[i * (TEXTS + WARMUP) : (i + 1) * (TEXTS + WARMUP)], workdir)
    finally:
        base.clean(talent)


if __name__ == "__main__":
    main()
