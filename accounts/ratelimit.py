"""Fixed-window rate limits counted in Django's cache.

The default cache is LocMemCache: counters are per process. Behind several web processes point
CACHES["default"] at a shared cache (Redis, Memcached) so a limit holds across all of them.
"""

from __future__ import annotations

import hashlib
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


def _cache_key(scope: str, key: str, window: int) -> str:
    if len(key) > 100 or not key.isascii() or not key.isprintable() or " " in key:
        # Keys come from requests (a webhook's From, a typed username): fuzzing found control and
        # non-ASCII characters, which memcached refuses (an error per request). Hash those.
        key = "h" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"rl:{scope}:{key}:{int(time.time()) // window}"


def hit(scope: str, key: str, rate: tuple[int, int]) -> bool:
    """Count one request for (scope, key); False once the window's allowance is spent."""
    if not settings.RATELIMIT_ENABLED or not key:
        return True
    limit, window = rate
    cache_key = _cache_key(scope, key, window)
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


def spent(scope: str, key: str, rate: tuple[int, int]) -> bool:
    """True when (scope, key) has used up this window's allowance; counts nothing."""
    if not settings.RATELIMIT_ENABLED or not key:
        return False
    limit, window = rate
    return (cache.get(_cache_key(scope, key, window)) or 0) >= limit


# --- failed sign-ins (console and API) ----------------------------------------------------------
def _login_user_key(username: str | None) -> str:
    return (username or "").strip().lower()[:150]


def login_locked(*, ip: str, username: str | None) -> bool:
    """Too many failed sign-ins for this username or from this address in the current window."""
    return spent("login-user", _login_user_key(username), settings.RATELIMIT_LOGIN_FAILURES_PER_USER) or spent(
        "login-ip", ip, settings.RATELIMIT_LOGIN_FAILURES_PER_IP
    )


def login_failed(*, ip: str, username: str | None) -> None:
    hit("login-user", _login_user_key(username), settings.RATELIMIT_LOGIN_FAILURES_PER_USER)
    hit("login-ip", ip, settings.RATELIMIT_LOGIN_FAILURES_PER_IP)


LOGIN_LOCKED_MESSAGE = "Too many failed sign-ins for this username or from this address. Try again in a few minutes."
