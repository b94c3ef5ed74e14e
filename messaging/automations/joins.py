"""The one place automations hear that a fan joined (web signup, the console's "Add fan", the API).

Callers run it inside the transaction that made the fan active, after the signup confirmation was
queued, so whatever an automation queues here commits (or rolls back) with the join itself and
always leaves after the confirmation.
"""

from __future__ import annotations

from accounts.models import Fan
from messaging.automations.series import enrol_on_join


def on_fan_joined(*, fan: Fan, source: str) -> None:
    """`source`: how the fan joined ("web", "console", "api"). Each automation adds its one call here."""
    enrol_on_join(fan=fan, source=source)  # the welcome series and date messages (issue 14)
    return None
