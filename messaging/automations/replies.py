"""How an automation answers a fan's own text at once: through the priority lane.

The lane (messaging/conversations/priority.py) sits one layer above automations, so this package
cannot import it; messaging/apps.py (top layer) hands its `priority_message_queue` in at start-up.
Every reply an automation sends goes through `reply()`, which refuses a fan who is not active: an
automation never texts a fan who opted out, is held for the team, is pending or erased.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from accounts.models import Fan
from messaging.automations import codes, sql
from messaging.sms.models import OutboundMessage

_PLAIN = re.compile(r"[A-Za-z0-9-]*")

_queue: Callable[..., Any] | None = None
_kick: Callable[..., Any] | None = None


def use_priority_lane(queue: Callable[..., Any], kick: Callable[..., Any] | None = None) -> None:
    """Called once by messaging/apps.py with conversations.priority.priority_message_queue (and
    priority_lane_kick, which `reply_many` calls once per batch)."""
    global _queue, _kick
    _queue, _kick = queue, kick


def reply(*, fan: Fan, body: str, code: str = "") -> bool:
    """Queue `body` for `fan` on the priority lane (personal lane: a fan's own text answered).
    Returns False, sending nothing, when the fan is not active or has no number. A body holding a
    drop's code reference (codes.py) is stored with it and counted in parts with `code` filled in."""
    if fan.status != Fan.Status.ACTIVE or not fan.phone or not body.strip():
        return False
    if _queue is None:  # a programming error: the app registry did not start
        raise RuntimeError("messaging.automations.replies: the priority lane was not registered (apps.ready)")
    if codes.PREFIX in body:
        # The lane's queue counts parts on the stored body; the reference is not the code's length.
        return reply_many(talent=fan.talent, replies=[(fan.pk, str(fan.phone), body, code)]) == 1
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


def reply_many(*, talent, replies: list[tuple[int, str, str, str]]) -> int:
    """`reply` for a chunk of fans in one INSERT (a drop's burst of confirmations): (fan id, number,
    body, code) of fans the caller read as active in this transaction; the body keeps the code's
    reference (codes.py), its parts are counted with the code in. The rows are those
    `priority_message_queue` makes for kind "reply" on the personal lane (no pumping guard applies
    to replies; the lane's claim re-checks that each fan is still active), then one kick of the
    lane after commit. Returns how many were queued."""
    from django.db import transaction

    from accounts.tokens import preview_links
    from messaging.sms.parts import sms_parts

    if _queue is None or _kick is None:
        raise RuntimeError("messaging.automations.replies: the priority lane was not registered (apps.ready)")
    # A burst's texts are a few templates and codes of a few lengths: count each pair once. A code
    # of ASCII letters, digits and dashes is one GSM-7 septet a character, so its length decides.
    parts: dict[tuple[str, int | str], int] = {}
    rows: list[tuple[int, str, str, int]] = []
    for fan_id, number, body, code in replies:
        if not number or not body.strip():
            continue
        key: tuple[str, int | str] = (body, len(code) if _PLAIN.fullmatch(code) else code)
        if key not in parts:
            parts[key] = max(1, sms_parts(preview_links(codes.filled(body, code), talent=talent)).parts)
        rows.append((fan_id, number, body, parts[key]))
    if rows:
        # The row `priority_message_queue` makes for kind "reply", written as one INSERT per chunk.
        template = OutboundMessage(
            talent=talent,
            kind=OutboundMessage.Kind.REPLY,
            lane=OutboundMessage.Lane.PERSONAL,
            status=OutboundMessage.Status.PENDING,
        )
        sql.insert_like(template, ["fan_id", "to_number", "body", "parts"], rows)
        kick = _kick
        transaction.on_commit(lambda: kick(rules=False))
    return len(rows)
