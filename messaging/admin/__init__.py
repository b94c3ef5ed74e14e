"""Console pages of the messaging app, one module per area."""

from messaging.admin import audience, campaigns, messages  # noqa: F401
