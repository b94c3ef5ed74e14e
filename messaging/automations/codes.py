"""A drop's code in a one-to-one text: a reference in the stored body, the code only as it leaves.

A box-office code is the fan's credential (issue 14 §3). The release (a campaign) already keeps
`{code}` in its rows and the engine's claim fills it (sending/claim.py FAN_VALUES). The texts a
fan's own join triggers (the confirmation, "you made it") go on the priority lane; their stored
body holds `{drop_code:<drop id>}` instead of the code, so the console's Sent texts, the inbox,
the API's messages, webhooks and archives never show one. The lane calls `fill_bodies` (registered
by messaging/apps.py in conversations/priority.py BODY_FILLS) on each batch it is about to send:
one indexed query reads the (drop, fan) codes, and the text handed to the provider has the code.

A reference, not a sealed copy (as signup codes are, accounts/tokens.py): the code is bound to the
(drop, fan) pair in the database (DropCode, partial unique), so the pair is all the text needs; an
erased fan's codes are deleted, and a text still pending for them has nothing left to open.
"""

from __future__ import annotations

import re

from messaging.automations.drop_models import DropCode
from messaging.sms.parts import sms_parts

PREFIX = "{drop_code:"
_RE = re.compile(r"\{drop_code:(\d+)\}")


def placeholder(drop_id: int) -> str:
    return f"{PREFIX}{drop_id}}}"


def filled(body: str, code: str) -> str:
    """The text as the fan gets it, with `code` for every drop reference (parts are counted on it)."""
    return _RE.sub(lambda _m: code, body) if PREFIX in body else body


def parts_of(body: str, code: str) -> int:
    """SMS parts of the text as it leaves (the stored reference is longer or shorter than a code)."""
    return max(1, sms_parts(filled(body, code)).parts)


def fill_bodies(rows: list[tuple[int | None, str]]) -> list[str | None]:
    """For the priority lane, per (fan id, body) of a batch: the body with each drop reference
    replaced by that fan's code for that drop (None: the body has none, send it as it is). A code
    gone meanwhile (erasure, retention) leaves the text without one. One query per batch that has
    references, none otherwise (one substring test per text)."""
    wanted = [(fan_id, body) for fan_id, body in rows if fan_id and PREFIX in body]
    if not wanted:
        return [None] * len(rows)
    drop_ids = {int(d) for _fan, body in wanted for d in _RE.findall(body)}
    found: dict[tuple[int, int | None], str] = {
        (drop_id, fan_id): code
        for drop_id, fan_id, code in DropCode.objects.filter(
            drop_id__in=drop_ids, fan_id__in={fan_id for fan_id, _body in wanted}
        ).values_list("drop_id", "fan_id", "code")
    }
    out: list[str | None] = []
    for fan_id, body in rows:
        if not fan_id or PREFIX not in body:
            out.append(None)
            continue

        def code_of(match: re.Match[str], fan: int | None = fan_id) -> str:
            return found.get((int(match.group(1)), fan), "")

        out.append(_RE.sub(code_of, body))
    return out
