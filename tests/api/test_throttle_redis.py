"""The v1 throttle counts in Django's cache: with Redis (REDIS_URL) the count is shared by every
web process. A throwaway redis-server, this test process and a second Python process count one
token's requests together. PostgreSQL pass only (with the other multi-process tests); with
CI=true a missing redis-server fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from tests.reliability.processes import redis_server, redis_server_path

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parents[2]
# A window of 10**9 s: the fixed window's slot cannot roll over while the test runs.
RATE = (5, 10**9)

OTHER_PROCESS = """
import json, sys
import django
django.setup()
from django.conf import settings
from accounts.integration_models import ApiToken
from fancommunity.api_v1.core import TokenRateThrottle

class Request:  # what the throttle reads: the token (request.auth) and the user
    def __init__(self, token):
        self.auth, self.user, self.META = token, None, {}

print(settings.CACHES["default"]["BACKEND"], file=sys.stderr)
token = ApiToken(pk=int(sys.argv[1]))
print(json.dumps([TokenRateThrottle().allow_request(Request(token), None) for _ in range(3)]))
"""


def _need_redis() -> None:
    if redis_server_path() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is needed; CI=true requires it (.ci/run installs it)")
        pytest.skip("needs redis-server")


def _other_process(redis_url: str, token_pk: int) -> list[bool]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": redis_url,
        "API_V1_RATE": f"{RATE[0]}/{RATE[1]}",
    }
    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, str(token_pk)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "RedisCache" in done.stderr  # REDIS_URL made the settings pick the shared cache
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_throttle_shares_its_count_across_processes_through_redis(make_token, tmp_path):
    _need_redis()
    with redis_server(tmp_path / "redis") as url:
        caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
        with override_settings(CACHES=caches, API_V1_RATE=RATE):
            token, _, client = make_token(["fans:read"])
            here = [client.get("/api/v1/talents/") for _ in range(3)]
            assert [r.status_code for r in here] == [200, 200, 200]
            assert here[-1]["RateLimit-Remaining"] == "2"
            # Requests 4 to 6 of the same token, in another process: it sees the 3 already counted.
            assert _other_process(url, token.pk) == [True, True, False]
            # ... and this process sees the other's: the limit of 5 is spent.
            after = client.get("/api/v1/talents/")
            assert after.status_code == 429 and int(after["Retry-After"]) >= 1
            _, _, other_token = make_token(["fans:read"])
            assert other_token.get("/api/v1/talents/").status_code == 200  # counted per token
