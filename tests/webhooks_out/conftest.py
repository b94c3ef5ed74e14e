"""The test receivers are local (http://127.0.0.1:<port>) and the sample hosts do not resolve
offline: netguard lets exactly these through, as NETGUARD_ALLOWED_HOSTS does for a real private
receiver. Tests of the refusals empty the list again."""

from __future__ import annotations

import pytest

RECEIVER_HOSTS = ["127.0.0.1", "hooks.example.com", "x.example.com"]


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.NETGUARD_ALLOWED_HOSTS = RECEIVER_HOSTS
    settings.NETGUARD_ALLOW_HTTP = True
