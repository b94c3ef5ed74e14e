"""A chunk of drop joins in a few statements (issue 14 §3: 200,000 joins within 10 minutes).

`drops.drop_join` is one fan: about ten statements. The rule processor handles texts in chunks
of 100, one transaction a chunk, so the keywords of a chunk that enter a drop are collected
(keywords.py, `JoinBatch`) and joined here at the chunk's end, in the chunk's transaction, with
the same rules as `drop_join`:

- one entry per (drop, fan): one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING; a fan
  already in (or twice in the chunk) is not entered again and takes no second code;
- capacity and waitlist exact: the drop row is locked (FOR UPDATE) while the chunk's new entries
  take what room is left, in the order the texts arrived;
- every code to exactly one fan: one UPDATE ... FROM (free rows FOR UPDATE SKIP LOCKED, numbered)
  binds the chunk's codes (sql.claim_free_codes), under the partial unique (drop, fan) constraint;
- a STOP wins: the fans' statuses are read again here, after every text of the chunk (a STOP
  later in the same chunk included) was applied; the lane's claim re-checks once more.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F

from accounts.models import Fan
from messaging.audience.models import ContactListMember
from messaging.automations import sql
from messaging.automations.drop_models import Drop, DropCode, DropEntry
from messaging.automations.drops import RACE_MARGIN, Joined, _release_state, _text_with_code, drop_made_it_if_missed

Entry = DropEntry.Status


def drop_join_many(*, drop: Drop, fans: list[Fan], now: dt.datetime) -> dict[int, Joined]:
    """Enter active fans (in arrival order) into a drop, in the caller's transaction: {fan id:
    what to answer}. A fan who is not active, or a paused drop, gets nothing (no key)."""
    if drop.is_paused or not fans:
        return {}
    order = list(dict.fromkeys(f.pk for f in fans))
    numbers = sql.active_numbers(order)  # read now: a STOP earlier in the chunk counts
    order = [f for f in order if f in numbers]
    if not order:
        return {}
    made = sql.insert_many_new(
        DropEntry,
        ["drop", "fan", "status", "created_at"],
        [(drop.pk, fan_id, Entry.ENTERED, now) for fan_id in order],
        ["drop", "fan"],
        returning="fan",
    )
    new = [f for f in order if f in made]  # arrival order, not the order RETURNING gave
    status: dict[int, str] = {f: Entry.ENTERED for f in new}
    entry_id = dict(made)
    old = [f for f in order if f not in made]
    for fan_id, pk, was in DropEntry.objects.filter(drop=drop, fan_id__in=old).values_list("fan_id", "pk", "status"):
        status[fan_id], entry_id[fan_id] = was, pk
    over = _take_room(drop, new)
    for fan_id in over:
        status[fan_id] = Entry.WAITLISTED if drop.waitlist else Entry.FULL
    entered = [f for f in order if status.get(f) == Entry.ENTERED]
    newly_entered = [f for f in new if f not in over]
    sql.insert_many_new(  # one statement, no model per row (bulk_create's cost)
        ContactListMember,
        ["contact_list", "fan", "added_at"],
        [(drop.entrants_list_id, f, now) for f in newly_entered],
        ["contact_list", "fan"],
        returning="fan",
    )
    codes = _codes(drop, entered, now)
    released, due = _release_state(drop)
    made_it = sql.set_once(DropEntry, "made_it_at", [entry_id[f] for f in entered], now) if released else set()
    out: dict[int, Joined] = {}
    for fan_id in order:
        if status[fan_id] != Entry.ENTERED:
            out[fan_id] = Joined(status[fan_id], drop.full_text, number=numbers[fan_id])
            continue
        code = codes.get(fan_id, "")
        if released:
            text = _text_with_code(drop.made_it, code, drop) if entry_id[fan_id] in made_it else ""
        else:
            text = _text_with_code(drop.confirmation, code, drop)
        out[fan_id] = Joined(Entry.ENTERED, text, code or "", numbers[fan_id])
    if not released and due is not None and due <= now + RACE_MARGIN and newly_entered:
        # As drop_join: a release starting between our read and our commit has no row for these.
        ids = [entry_id[f] for f in newly_entered]
        transaction.on_commit(lambda: [drop_made_it_if_missed(entry_id=i) for i in ids])
    return out


def _take_room(drop: Drop, new: list[int]) -> list[int]:
    """Under a capacity: the new entries past the room left (moved to the waitlist or turned
    away). The drop row is locked meanwhile, so two chunks never both take the last places."""
    if drop.capacity is None or not new:
        return []
    count = Drop.objects.select_for_update().filter(pk=drop.pk).values_list("entrants_count", flat=True).get()
    room = max(0, drop.capacity - count)
    taken, over = new[:room], new[room:]
    if taken:
        Drop.objects.filter(pk=drop.pk).update(entrants_count=F("entrants_count") + len(taken))
    if over:
        late = Entry.WAITLISTED if drop.waitlist else Entry.FULL
        DropEntry.objects.filter(drop=drop, fan_id__in=over).update(status=late)
        if drop.waitlist:
            Drop.objects.filter(pk=drop.pk).update(waitlist_count=F("waitlist_count") + len(over))
    return over


def _codes(drop: Drop, entered: list[int], now: dt.datetime) -> dict[int, str | None]:
    """Each entered fan's code: the one bound before (a resend), else a free one now; None when
    the drop has codes but none is left for the fan. A drop without codes: {} ("" for everyone)."""
    if not entered or not DropCode.objects.filter(drop=drop).exists():
        return {}
    codes: dict[int, str | None] = dict(
        DropCode.objects.filter(drop=drop, fan_id__in=entered).values_list("fan_id", "code")
    )
    wanting = [f for f in entered if f not in codes]
    codes.update(sql.claim_free_codes(drop_id=drop.pk, fan_ids=wanting, now=now))
    for fan_id in wanting:
        codes.setdefault(fan_id, None)
    return codes
