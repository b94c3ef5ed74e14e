"""Fixed-window rate limits and their settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from accounts import ratelimit
from fancommunity import env


def test_fixed_window_counts_per_scope_and_key(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    assert [ratelimit.hit("s", "a", (2, 60)) for _ in range(3)] == [True, True, False]
    assert ratelimit.hit("s", "b", (2, 60))  # another key
    assert ratelimit.hit("other", "a", (2, 60))  # another scope
    now[0] += 60  # next window
    assert ratelimit.hit("s", "a", (2, 60))


def test_disabled(settings):
    settings.RATELIMIT_ENABLED = False
    assert all(ratelimit.hit("s", "x", (1, 60)) for _ in range(5))


def test_client_ip_trusts_forwarded_for_only_when_told(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9, 10.0.0.1")
    assert ratelimit.client_ip(request) == "10.0.0.1"
    settings.RATELIMIT_TRUST_X_FORWARDED_FOR = True
    assert ratelimit.client_ip(request) == "198.51.100.9"


def test_rate_setting_parsing(monkeypatch):
    assert env.get_rate("NOT_SET_RATE", "30/3600") == (30, 3600)
    monkeypatch.setenv("SOME_RATE", "5/60")
    assert env.get_rate("SOME_RATE", "1/1") == (5, 60)
    for bad in ["5", "a/b", "0/60", "5/0"]:
        monkeypatch.setenv("SOME_RATE", bad)
        with pytest.raises(ImproperlyConfigured, match="SOME_RATE"):
            env.get_rate("SOME_RATE", "1/1")


def test_a_flooding_number_stays_limited_through_a_burst_of_new_numbers():
    """One counter per number: Django's default local cache kept 300 entries and evicted the least
    recently used, so in a celebrity burst a flooding number's counter was gone within a second
    and the number was never limited (nor the lane's once-a-second kick)."""
    from django.core.cache import cache

    cache.clear()
    rate = (5, 60)
    flooder = "1:+14155550123"
    for _ in range(5):
        assert ratelimit.hit("webhook-phone", flooder, rate)
    for i in range(3000):  # the burst's first texts, each from a new number
        ratelimit.hit("webhook-phone", f"1:+1312{2000000 + i:07d}", rate)
    assert not ratelimit.hit("webhook-phone", flooder, rate)
