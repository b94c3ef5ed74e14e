"""CPU a webhook request costs the web process when N threads call it at once (issue 10, seventh session).

    python -m tests.pgtemp -- sh -c '.venv/bin/python manage.py migrate -v0 && .venv/bin/python -m bench.webhook_threads'

bench/webhook_cpu.py measures one request at a time; under granian each worker process runs 8
blocking threads that call `fancommunity.wsgi.application` at once, and a phase-1 text cost the
web ~3x what it costs alone. This calls the application from N threads of one process (a pool per
N, each thread with its own database connection, as granian's are), closed loop like a saturated
worker: texts and status callbacks mixed two to one (about 0.5 callback a text, as in the
celebrity bench's phase 1), each thread's requests back to back. It reports the process's CPU
(`time.process_time`: every thread, user and kernel) per request and per text (with its half
callback, the bench's "web CPU a phase-1 text"), the user/kernel split, context switches a
request, the group commits' sizes (rows a statement) and the wall rate. The values of N alternate
in rounds, so a change in the machine's load falls on each alike; medians of the rounds.

WEBHOOK_THREADS (default "1,4,8,16"), WEBHOOK_THREADS_ROUNDS (3), WEBHOOK_THREADS_REQUESTS (600
a round and N), WEBHOOK_THREADS_TEXTS_A_CALLBACK (2; 0: texts only); WEBHOOK_THREADS_PROFILE=<dir> writes one cProfile a value of N (the CPU clock of
every thread, merged) of one more round. Rate limits stay on (each number texts once), as in the
celebrity bench. Not a bench_*.py module: `make bench` does not run it.
"""

from __future__ import annotations

import gc
import os
import queue
import resource
import statistics
import threading
import time
from dataclasses import dataclass, field

from bench import proc_cpu
from bench.webhook_cpu import _call, callback_environ, clean, configure, signed_callbacks, signed_texts, text_environ

THREADS = [int(n) for n in os.environ.get("WEBHOOK_THREADS", "1,4,8,16").split(",")]
ROUNDS = int(os.environ.get("WEBHOOK_THREADS_ROUNDS", "3"))
REQUESTS = int(os.environ.get("WEBHOOK_THREADS_REQUESTS", "600"))
PROFILE = os.environ.get("WEBHOOK_THREADS_PROFILE", "")
# Texts a status callback: 2 as in phase 1 (about 0.5 callback a text); 0 for texts only.
TEXTS_A_CALLBACK = int(os.environ.get("WEBHOOK_THREADS_TEXTS_A_CALLBACK", "2"))
WARMUP = 4  # texts a thread before the first round: its connection, the caches


@dataclass
class Round:
    cpu_s: float
    user_s: float
    sys_s: float
    wall_s: float
    switches: int
    requests: int
    texts: int
    groups: int  # statements the two group stores ran, and the rows in them
    rows: int
    gc_s: float  # CPU the garbage collector took (every generation), and its full collections
    gc_full: int
    postgresql_s: float  # the PostgreSQL server's CPU (every backend, ours and the neighbours' if any)


class _GcClock:
    """CPU the cyclic garbage collector takes: it runs in the thread that triggered it, holding the
    GIL, so that thread's CPU clock between "start" and "stop" is the collection's cost."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = threading.local()
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started.at = time.thread_time()
        else:
            self.seconds += time.thread_time() - getattr(self._started, "at", time.thread_time())
            self.full += info["generation"] == 2


GC = _GcClock()
POSTGRESQL: dict = {}  # the server's process tree, found once connected (bench/proc_cpu.py)


@dataclass
class Pool:
    """N threads that live for the whole run (each keeps its database connection, as a server's do)."""

    application: object
    size: int
    profile: bool = False
    jobs: list[queue.SimpleQueue] = field(default_factory=list)
    done: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        for _ in range(self.size):
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            thread = threading.Thread(target=self._work, args=(jobs,), daemon=True)
            self.jobs.append(jobs)
            self.threads.append(thread)
            thread.start()

    def _work(self, jobs: queue.SimpleQueue) -> None:
        from django.db import connection

        while (job := jobs.get()) is not None:
            environs, start, profiler = job
            start.wait()
            if profiler is not None:
                profiler.enable()
            codes = [_call(self.application, environ) for environ in environs]
            if profiler is not None:
                profiler.disable()
            self.done.put((codes, profiler))
        connection.close()

    def run(self, environs: list[tuple[str, dict]], profile_to: str = "") -> tuple[float, list]:
        """Each thread takes every size-th request; all start at once. Returns (wall s, profilers)."""
        import cProfile

        start = threading.Event()
        for i, jobs in enumerate(self.jobs):
            profiler = cProfile.Profile(time.thread_time) if profile_to else None
            jobs.put(([environ for _, environ in environs[i :: self.size]], start, profiler))
        began = time.perf_counter()
        start.set()
        profilers, bad = [], []
        for _ in self.jobs:
            codes, profiler = self.done.get()
            bad += [code for code in codes if code != 200]
            profilers.append(profiler)
        if bad:
            raise SystemExit(f"{len(bad)} requests were not answered 200: {sorted(set(bad))}")
        return time.perf_counter() - began, profilers

    def stop(self) -> None:
        for jobs in self.jobs:
            jobs.put(None)
        for thread in self.threads:
            thread.join(10)


def _mix(texts: list, callbacks: list, count: int) -> list[tuple[str, dict]]:
    """Two texts, then a callback: a burst's phase 1 with its links' callbacks flowing."""
    out = []
    for i in range(count):
        if TEXTS_A_CALLBACK and i % (TEXTS_A_CALLBACK + 1) == TEXTS_A_CALLBACK:
            out.append(("callback", callback_environ(callbacks.pop())))
        else:
            out.append(("text", text_environ(texts.pop())))
    return out


def _measure(pool: Pool, environs: list[tuple[str, dict]]) -> Round:
    from messaging.conversations.store import STORE
    from messaging.webhooks.status import STATUS_STORE

    groups, rows = STORE.groups + STATUS_STORE.groups, STORE.rows + STATUS_STORE.rows
    gc_s, gc_full = GC.seconds, GC.full
    postgresql = proc_cpu.snapshot(POSTGRESQL)["postgresql"]
    usage, cpu = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
    wall, _ = pool.run(environs)
    cpu, after = time.process_time() - cpu, resource.getrusage(resource.RUSAGE_SELF)
    postgresql = proc_cpu.snapshot(POSTGRESQL)["postgresql"] - postgresql
    return Round(
        cpu_s=cpu,
        user_s=after.ru_utime - usage.ru_utime,
        sys_s=after.ru_stime - usage.ru_stime,
        wall_s=wall,
        switches=(after.ru_nvcsw + after.ru_nivcsw) - (usage.ru_nvcsw + usage.ru_nivcsw),
        requests=len(environs),
        texts=sum(kind == "text" for kind, _ in environs),
        groups=STORE.groups + STATUS_STORE.groups - groups,
        rows=STORE.rows + STATUS_STORE.rows - rows,
        gc_s=GC.seconds - gc_s,
        gc_full=GC.full - gc_full,
        postgresql_s=postgresql,
    )


def _report(n: int, rounds: list[Round]) -> None:
    def med(f) -> float:
        return statistics.median(f(r) for r in rounds)

    per_request = [r.cpu_s * 1000 / r.requests for r in rounds]
    print(
        f"N={n:<3} {med(lambda r: r.cpu_s * 1000 / r.requests):.3f} ms CPU a request "
        f"(rounds {min(per_request):.3f}-{max(per_request):.3f}), "
        f"{med(lambda r: r.cpu_s * 1000 / r.texts):.3f} a text with its half callback; "
        f"PostgreSQL {med(lambda r: r.postgresql_s * 1000 / r.requests):.3f} ms a request; "
        f"user {med(lambda r: r.user_s * 1000 / r.requests):.3f} / kernel {med(lambda r: r.sys_s * 1000 / r.requests):.3f}; "
        f"{med(lambda r: r.switches / r.requests):.1f} context switches a request; "
        f"GC {med(lambda r: r.gc_s * 1000 / r.requests):.3f} ms a request "
        f"({sum(r.gc_full for r in rounds)} full collections); "
        f"{med(lambda r: r.rows / max(r.groups, 1)):.2f} rows a group statement; "
        f"{med(lambda r: r.requests / r.wall_s):.0f} requests/s wall",
        flush=True,
    )


def main() -> None:
    application = configure()
    from django.db import connection

    from bench.common import ensure_talent

    talent = ensure_talent("bench-webhook-threads")
    POSTGRESQL["postgresql"] = proc_cpu.tree(proc_cpu.postmaster_pid(connection))
    clean(talent)
    pools = {n: Pool(application, n) for n in THREADS}
    per_round = REQUESTS * len(THREADS)
    total = per_round * (ROUNDS + (1 if PROFILE else 0)) + WARMUP * sum(THREADS)
    texts = signed_texts(talent, total)
    callbacks = signed_callbacks(talent, total // 2 + 2)
    callbacks.reverse()  # popped from the end: sent before delivered
    texts.reverse()
    try:
        for n, pool in pools.items():
            pool.run([("text", text_environ(texts.pop())) for _ in range(WARMUP * n)])
        figures: dict[int, list[Round]] = {n: [] for n in THREADS}
        load = os.getloadavg()[0]
        for _ in range(ROUNDS):
            for n, pool in pools.items():
                figures[n].append(_measure(pool, _mix(texts, callbacks, REQUESTS)))
        mix = f"{TEXTS_A_CALLBACK} texts : 1 status callback" if TEXTS_A_CALLBACK else "texts only"
        print(f"{REQUESTS} requests a round ({mix}), {ROUNDS} rounds, medians:")
        for n in THREADS:
            _report(n, figures[n])
        print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
        if PROFILE:
            import pstats

            os.makedirs(PROFILE, exist_ok=True)
            for n, pool in pools.items():
                _, profilers = pool.run(_mix(texts, callbacks, REQUESTS), profile_to=PROFILE)
                stats = pstats.Stats(profilers[0])
                for profiler in profilers[1:]:
                    stats.add(profiler)
                stats.dump_stats(os.path.join(PROFILE, f"threads-{n}.prof"))
            print(f"profiles (CPU clock, all threads merged): {PROFILE}/threads-N.prof")
    finally:
        for pool in pools.values():
            pool.stop()
        clean(talent)


if __name__ == "__main__":
    main()
