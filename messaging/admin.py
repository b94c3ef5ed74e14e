"""Console pages of the messaging app, one module per area."""

from messaging.audience import admin as audience_admin  # noqa: F401
from messaging.campaigns import admin as campaigns_admin  # noqa: F401
from messaging.conversations import admin as conversations_admin  # noqa: F401
