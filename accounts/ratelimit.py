"""Fixed-window rate limits counted in Django's cache.

The default cache is LocMemCache: counters are per process. Behind several web processes point
CACHES["default"] at a shared cache (Redis, Memcached) so a limit holds across all of them.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    if settings.RATELIMIT_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def hit(scope: str, key: str, rate: tuple[int, int]) -> bool:
    """Count one request for (scope, key); False once the window's allowance is spent."""
    if not settings.RATELIMIT_ENABLED or not key:
        return True
    limit, window = rate
    bucket = int(time.time()) // window
    cache_key = f"rl:{scope}:{key}:{bucket}"
    # add() is atomic where the cache is (LocMem, Redis, Memcached): only one request creates it.
    if cache.add(cache_key, 1, timeout=window + 5):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add() and incr()
            cache.add(cache_key, 1, timeout=window + 5)
            count = 1
    return count <= limit
