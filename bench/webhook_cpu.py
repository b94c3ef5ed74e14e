"""CPU a webhook request costs the web process, measured in process (issue 10, sixth session).

    python -m tests.pgtemp -- sh -c '.venv/bin/python manage.py migrate -v0 && .venv/bin/python -m bench.webhook_cpu'

Calls `fancommunity.wsgi.application` as gunicorn's worker does (a WSGI environ with the body in
`wsgi.input`, `start_response`, the answer iterated and closed), one request at a time, and reports
the thread's CPU time (`time.thread_time`) per request, and the PostgreSQL server's (all its
processes, from /proc: the commits' WAL writes too), for four kinds: a signed first text from a
new number, a signed status callback (sent, then delivered, of a stored outbound row, with its `?m=`
hint), a STOP from a new number and one from a pending fan (the celebrity's second wave; both
applied inside the request), and a refused GET to the inbound URL (the bench's floor). CPU time, not wall time: the
commit's wait for the disk is the machine's, and this machine is shared. Each kind alternates in
rounds (ABCABC...) so a change in the machine's load falls on all of them alike; the median of the
rounds is reported. Not a bench_*.py module: `make bench` does not run it, and it writes nothing to
BENCHMARKS.md.

WEBHOOK_CPU_ROUNDS (default 5) rounds of WEBHOOK_CPU_N (default 300) requests of each kind;
WEBHOOK_CPU_PROFILE=<file.prof> writes a cProfile (CPU time) of the texts, callbacks and STOPs of one more round
(WEBHOOK_CPU_PROFILE_KINDS="text" or "STOP (a pending fan)", comma-separated: only those).
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
import uuid
from urllib.parse import urlencode

ROUNDS = int(os.environ.get("WEBHOOK_CPU_ROUNDS", "5"))
N = int(os.environ.get("WEBHOOK_CPU_N", "300"))
PROFILE = os.environ.get("WEBHOOK_CPU_PROFILE", "")
# Which kinds the profile holds, comma-separated ("text,STOP (a pending fan)"); all but the GET by default.
PROFILE_KINDS = [kind for kind in os.environ.get("WEBHOOK_CPU_PROFILE_KINDS", "").split(",") if kind]
INBOUND = "/webhooks/twilio/inbound/"
STATUS = "/webhooks/twilio/status/"
BASE = "http://127.0.0.1:8000"


def _environ(method: str, path: str, query: str = "", body: bytes = b"", signature: str = "") -> dict:
    """What gunicorn's gthread worker hands the application for one request (gunicorn/http/wsgi.py)."""
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "RAW_URI": path + ("?" + query if query else ""),
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "TwilioProxy/1.1",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": None,
        "SERVER_SOFTWARE": "gunicorn/23.0.0",
    }
    if body:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ["CONTENT_LENGTH"] = str(len(body))
    if signature:
        environ["HTTP_X_TWILIO_SIGNATURE"] = signature
    return environ


def _call(application, environ: dict) -> int:
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(int(line.split(" ", 1)[0]))

    result = application(environ, start_response)
    try:
        for _ in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()  # request_finished: close_old_connections, as gunicorn's close does
    return status[0]


def configure():
    """The settings bench/run.py gives every benchmark (and so the celebrity bench's web process),
    then django.setup() as the server's import does; returns the WSGI application."""
    os.environ.update({"PUBLIC_BASE_URL": BASE, "DJANGO_SETTINGS_MODULE": "fancommunity.settings"})
    for name, value in {"DEBUG": "false", "SECRET_KEY": "bench-" + "x" * 60, "SECURE_SSL_REDIRECT": "false",
                        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
                        "TWILIO_AUTH_TOKEN": "bench-sandbox-token", "SMS_BACKEND": "console",
                        "LOG_LEVEL": "WARNING"}.items():  # fmt: skip
        os.environ.setdefault(name, value)
    from django.db import connection

    import fancommunity.wsgi  # django.setup(), as the server's import does

    if connection.vendor != "postgresql":
        sys.exit("run on PostgreSQL (python -m tests.pgtemp -- ...)")
    return fancommunity.wsgi.application


def clean(talent) -> None:
    from django.conf import settings
    from django_q.brokers import get_broker

    from accounts.models import Fan
    from messaging.models import InboundMessage, OutboundMessage

    get_broker(settings.Q_PRIORITY_CLUSTER).purge_queue()  # the lane kicks the texts queued
    get_broker().purge_queue()
    for model in (InboundMessage, OutboundMessage, Fan):
        model.objects.filter(talent=talent).delete()


def signed_texts(talent, count: int, body: str = "omg hi!!", first: int = 2000000) -> list[tuple[bytes, str]]:
    """Texts from distinct new numbers (+1312<first + i>), signed as the bench signs them:
    (form body, signature)."""
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    texts = []
    for i in range(count):
        sid = "SM" + uuid.uuid4().hex
        payload = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": settings.TWILIO_ACCOUNT_SID,
                   "From": f"+1312{first + i:07d}", "To": str(talent.sender_number), "Body": body,
                   "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
                   "FromCountry": "US", "ToCountry": "US"}  # fmt: skip
        texts.append((urlencode(payload).encode(), validator.compute_signature(BASE + INBOUND, payload)))
    return texts


def signed_callbacks(talent, count: int) -> list[tuple[str, bytes, str]]:
    """Two per stored outbound row (sent, delivered), the sid unknown to the row yet (the callback
    outruns the lane's record: the hint finds it), as in a burst: (query, body, signature)."""
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    from messaging.models import OutboundMessage

    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    rows = OutboundMessage.objects.bulk_create(
        OutboundMessage(
            talent=talent,
            kind=OutboundMessage.Kind.SYSTEM,
            to_number=f"+1312{2000000 + i:07d}",
            body="link",
            status=OutboundMessage.Status.QUEUED,
        )  # fmt: skip
        for i in range((count + 1) // 2)
    )
    callbacks = []
    for row in rows:
        sid = "SM" + uuid.uuid4().hex
        for status in ("sent", "delivered"):
            payload = {"MessageSid": sid, "SmsSid": sid, "AccountSid": settings.TWILIO_ACCOUNT_SID,
                       "MessageStatus": status, "SmsStatus": status, "To": row.to_number,
                       "From": str(talent.sender_number), "ApiVersion": "2010-04-01"}  # fmt: skip
            query = f"m={row.pk}"
            signature = validator.compute_signature(f"{BASE}{STATUS}?{query}", payload)
            callbacks.append((query, urlencode(payload).encode(), signature))
    return callbacks


def text_environ(text: tuple[bytes, str]) -> dict:
    return _environ("POST", INBOUND, body=text[0], signature=text[1])


def callback_environ(callback: tuple[str, bytes, str]) -> dict:
    return _environ("POST", STATUS, query=callback[0], body=callback[1], signature=callback[2])


def main() -> None:
    application = configure()
    from django.conf import settings

    from bench.common import ensure_talent

    talent = ensure_talent("bench-webhook-cpu")
    clean(talent)
    total = N * (ROUNDS + (1 if PROFILE else 0)) + 50
    texts = signed_texts(talent, total)
    callbacks = signed_callbacks(talent, total)
    stops = signed_texts(talent, total, body="STOP", first=6000000)  # applied inside the request
    from accounts.models import Fan

    # The celebrity's second wave: a STOP from a number whose first text made a pending fan.
    Fan.objects.bulk_create(
        Fan(talent=talent, phone=f"+1312{7000000 + i:07d}", status=Fan.Status.PENDING) for i in range(total)
    )
    pending_stops = signed_texts(talent, total, body="STOP", first=7000000)
    kinds = {
        "text": lambda i: text_environ(texts[i]),
        "callback": lambda i: callback_environ(callbacks[i]),
        "STOP (a new number)": lambda i: text_environ(stops[i]),
        "STOP (a pending fan)": lambda i: text_environ(pending_stops[i]),
        "refused GET": lambda i: _environ("GET", INBOUND),
    }
    expected = {
        "text": 200,
        "callback": 200,
        "STOP (a new number)": 200,
        "STOP (a pending fan)": 200,
        "refused GET": 405,
    }
    settings.RATELIMIT_ENABLED = False  # every text comes from one test address here
    cursor = {kind: 0 for kind in kinds}
    from django.db import connection

    from bench import proc_cpu

    # The whole server's CPU (backends, WAL writer, checkpointer): what the commits cost too. It
    # counts in clock ticks (10 ms), so it needs rounds of a few hundred requests to mean anything.
    server = {"postgresql": proc_cpu.tree(proc_cpu.postmaster_pid(connection))}
    database: dict[str, list[float]] = {kind: [] for kind in kinds}

    def run(kind: str, app, count: int) -> float:
        """CPU ms per request of `count` requests of one kind (the web's; PostgreSQL's into `database`)."""
        environs = [kinds[kind](cursor[kind] + i) for i in range(count)]
        cursor[kind] += count
        before = proc_cpu.snapshot(server)["postgresql"]
        start = time.thread_time()
        for environ in environs:
            code = _call(app, environ)
            if code != expected[kind]:
                raise SystemExit(f"{kind}: answered {code}")
        took = (time.thread_time() - start) * 1000 / count
        database[kind].append((proc_cpu.snapshot(server)["postgresql"] - before) * 1000 / count)
        return took

    for kind in kinds:  # warm-up: URL resolution, caches, the first connection
        run(kind, application, 10)
    figures: dict[str, list[float]] = {kind: [] for kind in kinds}
    load = os.getloadavg()[0]
    for _ in range(ROUNDS):
        for kind in kinds:
            figures[kind].append(run(kind, application, N))
    for kind, values in figures.items():
        spread = f"{min(values):.3f}-{max(values):.3f}"
        db = database[kind][-ROUNDS:]  # not the warm-up's
        print(
            f"{kind:29} {statistics.median(values):.3f} ms CPU a request (rounds {spread}, {N} each); "
            f"PostgreSQL {statistics.median(db):.3f} ms ({min(db):.3f}-{max(db):.3f})"
        )
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    if PROFILE:
        import cProfile

        profiler = cProfile.Profile(time.thread_time)  # CPU, not the waits
        profiler.enable()
        profiled = [kind for kind in kinds if kind != "refused GET" and (not PROFILE_KINDS or kind in PROFILE_KINDS)]
        for kind in profiled:
            run(kind, application, N)
        profiler.disable()
        profiler.dump_stats(PROFILE)
        print(f"profile of {N} requests of each of {', '.join(profiled)}: {PROFILE}")
    clean(talent)


if __name__ == "__main__":
    main()
