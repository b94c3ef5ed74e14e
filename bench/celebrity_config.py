"""Constants of the celebrity benchmark (bench/bench_celebrity.py), shared by its modules."""

from __future__ import annotations

import os
from pathlib import Path

COUNT = int(os.environ.get("BENCH_CELEBRITY_TEXTS", "20000"))
REQUESTS_ONLY = os.environ.get("BENCH_CELEBRITY_REQUESTS_ONLY") == "1"
PROFILE_DIR = os.environ.get("BENCH_CELEBRITY_PROFILE", "")  # a directory: py-spy profiles of each phase
CONCURRENCY = 50
FLOOR_COUNT = max(COUNT, 5000)
STOP_SHARE = float(os.environ.get("BENCH_CELEBRITY_STOP_SHARE", "0.05"))  # 0: phase 2 without its STOPs (an A/B)
SLUG = "bench-celebrity"
SENDER_PARTS_PER_SECOND = 100  # a short code
SANDBOX_LATENCY_S = 0.020
WARMUP = 1000  # GETs before the floor: every web worker has loaded its URLconf and connections
WEBHOOK = "/webhooks/twilio/inbound/"
ROOT = Path(__file__).resolve().parent.parent
BENCH = "celebrity"
