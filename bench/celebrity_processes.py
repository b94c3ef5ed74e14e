"""The celebrity benchmark's processes: the Procfile's lines started as written, the sandbox's
ledger read as it grows, and one phase fired through the load client (bench/bench_celebrity.py)."""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from bench import proc_cpu
from bench.celebrity_config import PROFILE_DIR, ROOT
from messaging.sandbox.parts import count_parts  # no Django: the sandbox's own carrier counting

# --- the processes under test ----------------------------------------------------------------------
_LEADING_PYTHON = re.compile(r"^((?:env\s+)?(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:nice\s+-n\s*-?\d+\s+)?)python3?(?=\s)")


def procfile() -> dict[str, str]:
    """Procfile lines by process name; a leading `python` (after `env VAR=...`) becomes ours."""
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        commands[name.strip()] = _LEADING_PYTHON.sub(
            lambda m: m.group(1) + shlex.quote(sys.executable), command.strip()
        )
    return commands


class Processes:
    """Child processes, each in its own session so a stop reaches the web server's and qcluster's children."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}
        # Process groups whose CPU each phase reports (bench/proc_cpu.py): ours, and what we start beside.
        self.cpu_groups: dict = {}

    def start(self, name: str, command: str, env: dict[str, str]) -> None:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 (the child owns it)
        self.procs[name] = subprocess.Popen(
            ["bash", "-c", command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.cpu_groups[name] = proc_cpu.session(self.procs[name].pid)
        log.close()

    def profile(self, phase: str) -> list[subprocess.Popen]:
        """py-spy (a dev tool) on the web and the priority cluster for one phase: where their CPU goes."""
        profilers = []
        for name in ("web", "priority"):
            out = Path(PROFILE_DIR) / f"{phase}-{name}.txt"
            command = [str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses", "--format", "raw",
                       "--rate", "50", "--pid", str(self.procs[name].pid), "--output", str(out)]  # fmt: skip
            profilers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return profilers

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)  # graceful: the web server drains, qcluster stops its workers
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGKILL)  # whatever is left of each group, leader gone or not
            proc.wait(10)
        self.procs.clear()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def wait_web(base_url: str, processes: Processes, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        processes.check_alive()
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the web server did not answer /healthz in {timeout:.0f} s:\n{processes.log_tail('web')}"
            )
        time.sleep(0.2)


def wait_clusters(processes: Processes, timeout: float = 60) -> None:
    """A probe task through each queue: both clusters are pulling work before the clock starts."""
    from django.conf import settings
    from django_q.tasks import async_task, result

    for cluster in (None, settings.Q_PRIORITY_CLUSTER):
        task_id = async_task("math.floor", 1.5, cluster=cluster, task_name=f"bench-celebrity-probe-{uuid.uuid4().hex}")
        deadline = time.monotonic() + timeout
        while result(task_id, wait=500) is None:
            processes.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster {cluster or 'main'} ran no task in {timeout:.0f} s")


# --- the sandbox's ledger, read as it grows ---------------------------------------------------------
class LedgerTail(threading.Thread):
    """Stamps each ledger line with the wall clock when it appears (every 20 ms): the ledger's own
    date_created has one-second resolution, too coarse for a rate."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="ledger-tail", daemon=True)
        self.path = path
        self.records: list[tuple[float, dict]] = []
        self.link_counts: Counter[str] = Counter()  # To -> messages containing a signup link
        self.link_parts = 1  # SMS parts of the longest link seen
        self.last_line_at = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        partial = ""
        with open(self.path, encoding="utf-8") as ledger:
            while True:
                stopping = self._done.is_set()
                chunk = ledger.read()
                if chunk:
                    stamp = time.time()
                    lines = (partial + chunk).split("\n")
                    partial = lines.pop()  # a line still being written
                    for line in lines:
                        if line.strip():
                            record = json.loads(line)
                            self.records.append((stamp, record))
                            if "/join/" in record.get("Body", ""):
                                self.link_counts[record.get("To", "")] += 1
                                self.link_parts = max(self.link_parts, count_parts(record["Body"]))
                    self.last_line_at = stamp
                if stopping:
                    return
                self._done.wait(0.02)

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(10)


# --- measuring --------------------------------------------------------------------------------------
def fire(workdir: Path, name: str, spec: dict, processes: Processes) -> dict:
    """One phase through the client process; returns its per-request record plus the machine's idle CPU."""
    spec_path, out_path = workdir / f"{name}.in.json", workdir / f"{name}.out.json"
    spec_path.write_text(json.dumps(spec))
    idle0, total0 = _cpu_ticks()
    cpu0, client0, busy0 = proc_cpu.snapshot(processes.cpu_groups), _children_cpu(), proc_cpu.machine_busy()
    profilers = processes.profile(name) if PROFILE_DIR and name.startswith("phase") else []
    subprocess.run(
        [sys.executable, "-m", "bench.celebrity_client", str(spec_path), str(out_path)], cwd=ROOT, check=True
    )
    cpu1, client1, busy1 = proc_cpu.snapshot(processes.cpu_groups), _children_cpu(), proc_cpu.machine_busy()
    for profiler in profilers:  # after the snapshot: the profilers' own CPU is nobody's
        profiler.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
        profiler.wait(30)
    idle1, total1 = _cpu_ticks()
    processes.check_alive()
    result = json.loads(out_path.read_text())
    result["idle_cpu"] = (idle1 - idle0) / max(1, total1 - total0)
    result["cpu_s"] = {name: cpu1[name] - cpu0[name] for name in cpu0}
    result["cpu_s"]["client"] = client1 - client0
    result["cpu_s"]["machine"] = busy1 - busy0
    return result


def _children_cpu() -> float:
    """CPU-seconds of this process's waited-for children: the load client, once subprocess.run returns."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_ticks() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def _sandbox_first(members) -> None:
    """The sandbox stands in for Twilio, which has machines of its own: run it ahead of our processes
    (nice -5) so it stamps each message when it arrives, not when a CPU held by the burst gets to
    it (a starved sandbox read a second's sends late and stamped them together: "seconds above
    the rate" that no sender made). Its CPU is still on this machine and still reported.

    With the kernel's autogroup scheduler on (/proc/sys/kernel/sched_autogroup_enabled, as on this
    machine), a nice value counts only inside the process's session group: each Procfile process
    runs in a session of its own, so nice -5 alone did nothing against them. The group's own nice
    (/proc/<pid>/autogroup) is what weighs; the sandbox shares its group with this driver (the
    ledger tail), which is idle but for 20 ms polls."""
    for pid in members(proc_cpu._processes()):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, -5)
        except OSError:  # not root: it keeps the default priority, and the peak figure may show it
            pass
        try:
            Path(f"/proc/{pid}/autogroup").write_text("-5")
        except OSError:  # no autogroup scheduler, or not allowed: the nice value above is all there is
            pass


def _purge_queues() -> None:
    from django.conf import settings
    from django_q.brokers import get_broker

    get_broker(settings.Q_PRIORITY_CLUSTER).purge_queue()
    get_broker().purge_queue()


def _procfile_default(command: str, variable: str) -> str:
    found = re.search(r"\$\{" + variable + r":-(\d+)\}", command)
    return found.group(1) if found else "?"
