"""The one place automations hear that a fan joined (web signup, the console's "Add fan", the API).

Callers run it inside the transaction that made the fan active, after the signup confirmation was
queued, so whatever an automation queues here commits (or rolls back) with the join itself and
always leaves after the confirmation.
"""

from __future__ import annotations

from accounts.models import Fan
from messaging.automations import keywords
from messaging.automations.series import enrol_on_join


def on_fan_joined(*, fan: Fan, source: str) -> None:
    """`source`: how the fan joined ("web", "console", "api"). Each automation adds its one call here."""
    keywords.keywords_on_join(fan=fan)  # issue 14 §1/§3: the keyword (or drop) texted before joining

    enrol_on_join(fan=fan, source=source)  # the welcome series and date messages (issue 14)
    return None
