"""Thin periodic tasks of API v1 (scheduled from messaging/tasks.py PERIODIC_EVERY)."""

from __future__ import annotations

from accounts.api_tokens import idempotency_keys_prune


def prune_idempotency_keys() -> int:
    """Hourly: delete the Idempotency-Keys older than API_V1_IDEMPOTENCY_HOURS."""
    return idempotency_keys_prune()
