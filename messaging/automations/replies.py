"""How an automation answers a fan's own text at once: through the priority lane.

The lane (messaging/conversations/priority.py) sits one layer above automations, so this package
cannot import it; messaging/apps.py (top layer) hands its `priority_message_queue` in at start-up.
Every reply an automation sends goes through `reply()`, which refuses a fan who is not active: an
automation never texts a fan who opted out, is held for the team, is pending or erased.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import Fan
from messaging.sms.models import OutboundMessage

_queue: Callable[..., Any] | None = None


def use_priority_lane(queue: Callable[..., Any]) -> None:
    """Called once by messaging/apps.py with conversations.priority.priority_message_queue."""
    global _queue
    _queue = queue


def reply(*, fan: Fan, body: str) -> bool:
    """Queue `body` for `fan` on the priority lane (personal lane: a fan's own text answered).
    Returns False, sending nothing, when the fan is not active or has no number."""
    if fan.status != Fan.Status.ACTIVE or not fan.phone or not body.strip():
        return False
    if _queue is None:  # a programming error: the app registry did not start
        raise RuntimeError("messaging.automations.replies: the priority lane was not registered (apps.ready)")
    # Kind "reply": the lane's claim then re-checks that the fan is still active (not only "not
    # opted out"), and the SMS-pumping caps, which guard texts a stranger can ask for (signup
    # codes, join links), do not count a drop's 200,000 confirmations to members against them.
    _queue(talent=fan.talent, fan=fan, to=str(fan.phone), body=body, kind=OutboundMessage.Kind.REPLY)
    return True


def reply_to_number(*, talent, to: str, body: str) -> None:
    """A console test ("send to me"): to a team member's number, which is no fan's row."""
    if _queue is None:
        raise RuntimeError("messaging.automations.replies: the priority lane was not registered (apps.ready)")
    _queue(talent=talent, fan=None, to=to, body=body)
