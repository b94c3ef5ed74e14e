"""Idempotency-Keys live API_V1_IDEMPOTENCY_HOURS: pruned hourly, and ignored past the window."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.api_tokens import IdempotencyKey, idempotency_keys_prune
from messaging.models import Tag

pytestmark = pytest.mark.django_db


def _age(key: str, hours: float) -> None:
    IdempotencyKey.objects.filter(key=key).update(created_at=timezone.now() - dt.timedelta(hours=hours))


def test_prune_deletes_only_keys_past_their_window(api, settings):
    settings.API_V1_IDEMPOTENCY_HOURS = 24
    for key in ("old-1", "old-2", "fresh"):
        assert api.post("/api/v1/tags/", {"name": key}, format="json", HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    _age("old-1", 25)
    _age("old-2", 24.01)
    _age("fresh", 23.9)
    assert idempotency_keys_prune(chunk=1) == 2  # chunked: one row a round here
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert idempotency_keys_prune() == 0


def test_a_key_past_its_window_is_free_again_before_the_prune(api, settings):
    settings.API_V1_IDEMPOTENCY_HOURS = 24
    first = api.post("/api/v1/tags/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    reused = api.post("/api/v1/tags/", {"name": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201 and reused.status_code == 422  # within the window: refused
    _age("k", 25)
    later = api.post("/api/v1/tags/", {"name": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert later.status_code == 201 and "Idempotent-Replayed" not in later
    assert set(Tag.objects.values_list("name", flat=True)) >= {"a", "b"}
    assert IdempotencyKey.objects.get(key="k").request_hash  # the key now answers for "b"


def test_the_prune_is_scheduled_hourly():
    from django_q.models import Schedule

    from fancommunity.api_v1.tasks import prune_idempotency_keys
    from messaging.tasks import ensure_periodic_schedules

    ensure_periodic_schedules()
    schedule = Schedule.objects.get(func="fancommunity.api_v1.tasks.prune_idempotency_keys")
    assert schedule.minutes == 60 and schedule.repeats == -1
    assert prune_idempotency_keys() == 0
