"""The one place automations hear that a fan joined (web signup, the console's "Add fan", the API).

Callers run it inside the transaction that made the fan active, after the signup confirmation was
queued, so whatever an automation queues here commits (or rolls back) with the join itself and
always leaves after the confirmation.
"""

from __future__ import annotations

from accounts.models import Fan
from messaging.automations import keywords
from messaging.automations.keyword_models import FanKeyword
from messaging.automations.series import enrol_on_join


def on_fan_joined(*, fan: Fan, source: str) -> None:
    """`source`: how the fan joined ("web", "console", "api"). Each automation adds its one call here."""
    keywords.keywords_on_join(fan=fan)  # issue 14 §1/§3: the keyword (or drop) texted before joining
    # The welcome series and date messages; a step "only for fans who joined with KEYWORD" reads the
    # keyword kept on the fan (FanKeyword), so the keyword runs first.
    joined_with = FanKeyword.objects.filter(fan=fan, joined_at__isnull=False).values_list("word", flat=True).first()
    enrol_on_join(fan=fan, source=source, keyword=joined_with or "")
