"""The celebrity benchmark's two clocks for the links: when the lane made each send call (its own
log, settings.PRIORITY_LANE_SEND_LOG) and when the sandbox received and processed the request
(the ledger's received_at / accepted_at). The busiest second on each says whether a second above
the sender's rate is our sending (two batches or processes at once, a slipped schedule catching
up) or the sandbox reading a second's requests late and together."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def read_lane_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def row_id(record: dict) -> int | None:
    """The lane row a ledger line belongs to: its status callback's `m=` hint."""
    values = parse_qs(urlsplit(record.get("StatusCallback", "")).query).get("m")
    return int(values[0]) if values and values[0].isdigit() else None


def per_second(stamps: list[tuple[float, int]]) -> Counter[int]:
    """Parts per calendar second (whole seconds of the wall clock, as Twilio's date_created)."""
    seconds: Counter[int] = Counter()
    for at, parts in stamps:
        seconds[math.floor(at)] += parts
    return seconds


def sliding_peak(stamps: list[tuple[float, int]], window: float = 1.0) -> int:
    """Most parts in any window of `window` seconds [t, t + window), not only calendar seconds."""
    ordered = sorted(stamps)
    best = total = start = 0
    for at, parts in ordered:
        total += parts
        while ordered[start][0] <= at - window:
            total -= ordered[start][1]
            start += 1
        best = max(best, total)
    return best


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def q(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))], 1)

    return {"p50": q(0.5), "p99": q(0.99), "max": round(1000 * ordered[-1], 1)}


def overlapping_batches(sends: list[dict]) -> int:
    """Pairs of lane batches whose sends interleave in time (one batch at a time is the design)."""
    spans: dict[str, list[float]] = {}
    for s in sends:
        span = spans.setdefault(s["batch"], [s["wall"], s["wall"]])
        span[0], span[1] = min(span[0], s["wall"]), max(span[1], s["wall"])
    ordered = sorted(spans.values())
    return sum(1 for a, b in zip(ordered, ordered[1:], strict=False) if b[0] < a[1])


def idle_time(sends: list[dict], rate: float) -> dict:
    """Where the sender stood idle, on the lane's monotonic clock: each gap between two send calls
    beyond the first one's own slot (parts / rate), split by whether both were in one batch (the
    pacing loop, a slow re-check) or not (claim, render and record between batches; a task handing
    over to the next). What the rate "first to last" loses to."""
    ordered = sorted(sends, key=lambda s: s["mono"])
    within = between = 0.0
    gaps: list[tuple[float, str]] = []
    for a, b in zip(ordered, ordered[1:], strict=False):
        idle = b["mono"] - a["mono"] - a.get("parts", 1) / rate
        if idle <= 0.001:  # timer jitter, not idleness
            continue
        kind = "batch" if a["batch"] == b["batch"] else ("process" if a["pid"] != b["pid"] else "between")
        if kind == "batch":
            within += idle
        else:
            between += idle
        gaps.append((idle, kind))
    span = ordered[-1]["mono"] - ordered[0]["mono"] if len(ordered) > 1 else 0.0
    # Of the idle within batches: waited after the bucket let a text go (a free connection, the STOP
    # re-check in flight); the rest is the loop's own lateness (the process held off the CPU).
    after_bucket = [s["slot_mono"] - s["paced_mono"] for s in ordered if "paced_mono" in s]
    top = sorted(gaps, reverse=True)[:5]
    return {
        "span_s": round(span, 1),
        "idle_within_batches_s": round(within, 1),
        "idle_between_batches_s": round(between, 1),
        "longest_gaps_s": [f"{g:.2f} {k}" for g, k in top],
        "waited_after_bucket_s": round(sum(after_bucket), 1),
        "waits_after_bucket_over_100ms": sum(1 for w in after_bucket if w > 0.1),
    }


def link_clocks(links: list[dict], parts: list[int], lane_log: list[dict], bound: int, rate: float) -> dict:
    """Both clocks over the same links (ledger lines with a signup link, their SMS parts)."""
    sends = {s["id"]: s for s in lane_log}
    received = [(r["received_at"], n) for r, n in zip(links, parts, strict=True) if "received_at" in r]
    processed = [(r["accepted_at"], n) for r, n in zip(links, parts, strict=True) if "accepted_at" in r]
    matched = [(r, n, sends[i]) for r, n in zip(links, parts, strict=True) if (i := row_id(r)) in sends]
    called = [(s["wall"], n) for _, n, s in matched]
    by_receipt, by_processing, by_call = per_second(received), per_second(processed), per_second(called)
    figures: dict = {
        "receipt_peak": max(by_receipt.values(), default=0),
        "receipt_over": sum(1 for v in by_receipt.values() if v > bound),
        "processing_peak": max(by_processing.values(), default=0),
        "processing_over": sum(1 for v in by_processing.values() if v > bound),
        "lane_peak": max(by_call.values(), default=0),
        "lane_over": sum(1 for v in by_call.values() if v > bound),
        "lane_sliding_peak": sliding_peak([(s["mono"], n) for _, n, s in matched]),
        "matched": len(matched),
        "processes": len({s["pid"] for _, _, s in matched}),
        "batches": len({s["batch"] for _, _, s in matched}),
        "overlapping_batches": overlapping_batches([s for _, _, s in matched]),
        "idle": idle_time([s for _, _, s in matched], rate) if matched else {},
        "receipt_lag_ms": _ms([r["received_at"] - s["wall"] for r, _, s in matched if "received_at" in r]),
        "processing_lag_ms": _ms([r["accepted_at"] - r["received_at"] for r in links if "accepted_at" in r]),
    }
    if by_receipt and matched:
        # The sandbox's busiest second: over how long did the lane make those calls? More than a
        # second means the sandbox (or the network) bunched them; within one, we sent them so.
        second = max(by_receipt, key=lambda k: by_receipt[k])
        calls = [s["wall"] for r, _, s in matched if math.floor(r.get("received_at", -1)) == second]
        figures["busiest_receipt_second_lane_span_s"] = round(max(calls) - min(calls), 3) if calls else None
    return figures
