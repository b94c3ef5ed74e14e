"""Fixtures of the automation tests (the movable clock lives in support.py)."""

from tests.messaging.automations.support import clock  # noqa: F401
