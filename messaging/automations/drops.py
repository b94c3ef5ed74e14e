"""Drops (issue 14 §3): create, join, codes, release, "you made it", export.

The release is a Campaign the drop owns (`Drop.campaign`), whose audience is the drop's own
contact list of entrants (`Drop.entrants_list`). The dispatcher starts it at the release time like
any scheduled campaign, so the release gets everything the engine guarantees: one row per
recipient, unique on (campaign, fan) in the database; quiet hours, the frequency cap, pacing and
the STOP re-check at claim. No drop code sends a scheduled text itself.

Joining is the instant part, answered on the priority lane: the confirmation (or, once the
release went out, "you made it"), the waitlist or full text, the codes' fallback.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from accounts import permissions
from accounts.audit import audit
from accounts.models import Fan
from messaging.audience.exports import neutralise
from messaging.audience.models import ContactList, ContactListMember, ExportAudit
from messaging.automations import codes, replies, sql
from messaging.automations.drop_models import Drop, DropCode, DropEntry
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign
from messaging.campaigns.render import validate_body
from messaging.campaigns.services import campaign_pause, campaign_resume
from messaging.sending.sql import Dialect, Statement, in_ids
from messaging.sms.models import OutboundMessage

CODE_FIELD = "{code}"
MAX_CODES = 500_000
_CODE_PREVIEW = "ABCD-1234"
Entry = DropEntry.Status


def _require(actor, capability: str, talent_id: int) -> None:
    if actor is not None and not permissions.can(actor, capability, talent_id):
        raise PermissionDenied("Your role on this talent does not allow that.")


# --- the console's side ---------------------------------------------------------------------------
def drop_texts_clean(*, release_text: str) -> None:
    """The release goes through the campaign engine, which renders {first_name}, {city} and, for
    a drop's release, {code} (the fan's code, filled at send time: `release_codes`)."""
    try:
        validate_body(release_text.replace(CODE_FIELD, ""))
    except ValidationError as exc:
        raise ValidationError({"release_text": exc.messages}) from exc


def release_codes(d: Dialect, campaign_id: int, fan_ids: list[int]) -> Statement:
    """The claim's {code} (messaging/sending/claim.py FAN_VALUES, registered in messaging/apps.py):
    (fan id, code) of the claimed fans of the drop whose release is `campaign_id`. The engine puts
    the code in the text it hands to the provider and stores the row with "{code}" left in: a code
    is a fan's credential, never kept in a message body. A fan without a code (they ran out) gets
    the text without one. One indexed query per claimed batch."""
    ids_sql, ids_params = in_ids(d, "c.fan_id", fan_ids)
    return (
        f"SELECT c.fan_id, c.code FROM {DropCode._meta.db_table} c JOIN {Drop._meta.db_table} d "  # noqa: S608
        f"ON d.id = c.drop_id WHERE d.campaign_id = %s AND {ids_sql}",
        [campaign_id, *ids_params],
    )


def _release_schedule(drop: Drop) -> dict:
    """The release campaign's schedule fields for the drop's release time and zone rule."""
    if drop.release_zone == Drop.Zone.TALENT:
        return {
            "schedule_mode": Campaign.ScheduleMode.AT,
            "send_at": drop.release_at,
            "local_date": None,
            "local_time": None,
        }
    local = drop.release_at.astimezone(drop.talent.tz)
    zones = set(
        Fan.objects.filter(talent=drop.talent).exclude(time_zone="").values_list("time_zone", flat=True).distinct()
    )
    zones.add(drop.talent.default_time_zone)
    first = scheduling.first_local_occurrence(local.date(), local.time().replace(tzinfo=None), sorted(zones))
    return {
        "schedule_mode": Campaign.ScheduleMode.LOCAL_TIME,
        "send_at": first or drop.release_at,
        "local_date": local.date(),
        "local_time": local.time().replace(tzinfo=None),
    }


def drop_save(*, drop: Drop, actor) -> Drop:
    """Create or edit a drop and keep its release campaign in step (while it has not started)."""
    _require(actor, "compose", drop.talent_id)
    drop_texts_clean(release_text=drop.release_text)
    if drop.release_at <= timezone.now() and drop.pk is None:
        raise ValidationError({"release_at": "Pick a release time in the future."})
    with transaction.atomic():
        creating = drop.pk is None
        if creating:
            drop.entrants_list = ContactList.objects.create(
                talent=drop.talent,
                name=f"Drop entrants: {drop.name} ({timezone.now():%Y%m%d%H%M%S%f})"[:120],
                description="Fans who joined this drop; the audience of its release. Managed by the drop.",
            )
            drop.created_by = actor if getattr(actor, "is_authenticated", False) else None
        drop.save()
        fields = _release_schedule(drop)
        if drop.campaign_id is None:
            campaign = Campaign.objects.create(
                talent=drop.talent,
                name=f"Drop release: {drop.name}"[:200],
                body=drop.release_text,
                created_by=drop.created_by,
                **fields,
            )
            campaign.include_lists.set([drop.entrants_list])
            campaign.transition("schedule", Campaign.Status.SCHEDULED, send_at=fields["send_at"])
            drop.campaign = campaign
            drop.save(update_fields=["campaign"])
            if drop.is_paused:
                campaign_pause(campaign=campaign, actor=None, reason="The drop is paused.")
        else:
            # Only a release that has not started follows an edit; one on its way is left alone.
            Campaign.objects.filter(
                pk=drop.campaign_id, status__in=[Campaign.Status.SCHEDULED, Campaign.Status.PAUSED]
            ).update(body=drop.release_text, name=f"Drop release: {drop.name}"[:200], **fields)
        audit(
            "automation.drop_created" if creating else "automation.drop_changed",
            talent=drop.talent,
            actor=actor,
            obj=drop,
        )
    return drop


def drop_set_paused(*, drop: Drop, paused: bool, actor) -> Drop:
    """Pause (no one joins, nothing is sent, the release is held) or resume a drop."""
    _require(actor, "compose", drop.talent_id)
    with transaction.atomic():
        Drop.objects.filter(pk=drop.pk).update(is_paused=paused)
        drop.is_paused = paused
        campaign = drop.campaign
        if campaign is not None:
            campaign.refresh_from_db()
            if paused and campaign.status in (Campaign.Status.SCHEDULED, Campaign.Status.SENDING):
                campaign_pause(campaign=campaign, actor=actor, reason="The drop is paused.")
            elif not paused and campaign.status == Campaign.Status.PAUSED:
                campaign_resume(campaign=campaign, actor=actor)
        audit(
            "automation.drop_paused" if paused else "automation.drop_resumed", talent=drop.talent, actor=actor, obj=drop
        )
    return drop


def drop_codes_upload(*, drop: Drop, data: bytes, actor) -> dict:
    """Add codes from a CSV (the first column; a header row named "code" is skipped). Returns
    {"added", "duplicates"}; a file that is not text CSV, or holds no code, is refused."""
    _require(actor, "compose", drop.talent_id)
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError("That file is not a UTF-8 CSV file: save it as CSV and upload it again.") from exc
    codes: list[str] = []
    for number, row in enumerate(rows, start=1):
        value = (row[0] if row else "").strip()
        if not value or (number == 1 and value.lower() == "code"):
            continue
        if len(value) > 64:
            raise ValidationError(f"Line {number}: a code is at most 64 characters.")
        codes.append(value)
    if not codes:
        raise ValidationError("The file holds no codes: one code a line, in the first column.")
    unique = list(dict.fromkeys(codes))
    if len(unique) + drop.codes.count() > MAX_CODES:
        raise ValidationError(f"A drop holds at most {MAX_CODES:,} codes.")
    with transaction.atomic():
        before = drop.codes.count()
        for start in range(0, len(unique), 5000):
            DropCode.objects.bulk_create(
                [DropCode(drop=drop, code=c) for c in unique[start : start + 5000]], ignore_conflicts=True
            )
        added = drop.codes.count() - before
        audit("automation.drop_codes_uploaded", talent=drop.talent, actor=actor, obj=drop, added=added)
    return {"added": added, "duplicates": len(codes) - added}


# --- joining ----------------------------------------------------------------------------------------
@dataclass
class Joined:
    status: str  # an Entry status, or "" when the drop took no one (paused, fan not active)
    text: str  # the instant reply (the caller sends it)
    code: str = ""
    number: str = ""  # the fan's number (E.164), when the caller needs it (drop_join_many)
    new: bool = False  # this call made the entry (a second join is the same entry)


def _release_state(drop: Drop, *, fresh: bool = False) -> tuple[bool, dt.datetime | None]:
    """(has the release gone out, when it is due). The campaign's start commits its status and
    every recipient row together, so a fan who is not among them gets "you made it". The join path
    reads the campaign with the drop (one query); `fresh` reads it again."""
    if drop.campaign_id is None:
        return False, None
    campaign = None if fresh else drop._state.fields_cache.get("campaign")
    if campaign is None:
        found = Campaign.objects.filter(pk=drop.campaign_id).values_list("started_at", "send_at").first()
        started, due = found if found else (None, None)
    else:
        started, due = campaign.started_at, campaign.send_at
    return started is not None, due


def _released(drop: Drop) -> bool:
    return _release_state(drop, fresh=True)[0]


def _bind_code(drop: Drop, fan: Fan, now: dt.datetime, *, new_entry: bool) -> str | None:
    """The fan's code for this drop: the one already bound, else the next free one. None when the
    drop has codes but none is left ("" when it has no codes at all).

    Two fans racing: each binds the next free row in one statement (sql.claim_free_code: FOR
    UPDATE SKIP LOCKED on PostgreSQL, a conditional UPDATE everywhere), so a row taken meanwhile is
    skipped, never shared. One fan twice: a code is only bound for a new entry, and the entry is
    unique per (drop, fan), so a resend reads back the fan's code; the partial unique (drop, fan)
    constraint on codes makes a second binding impossible whatever the caller does.
    """
    if not new_entry:
        mine = DropCode.objects.filter(drop=drop, fan=fan).values_list("code", flat=True).first()
        if mine is not None:
            return mine
    code = sql.claim_free_code(drop_id=drop.pk, fan_id=fan.pk, now=now)
    if code is not None:
        return code
    return None if DropCode.objects.filter(drop=drop).exists() else ""


def _text_with_code(template: str, code: str | None, drop: Drop) -> str:
    """The instant reply as it is stored: a code is a reference to the (drop, fan) pair, filled in
    only as the text leaves the priority lane (codes.py), never written into a message body."""
    if code is None and drop.fallback_text:
        return drop.fallback_text  # codes have run out
    return template.replace(CODE_FIELD, codes.placeholder(drop.pk) if code else "")


def drop_join(*, drop: Drop, fan: Fan, now: dt.datetime | None = None) -> Joined:
    """Enter an active fan into a drop (in the caller's transaction) and say what to answer.

    Entering twice is one entry and the same code. Past the capacity: the waitlist (or full).
    After the release: "you made it". The caller sends `text` on the priority lane.
    """
    now = now or timezone.now()
    if drop.is_paused or fan.status != Fan.Status.ACTIVE:
        return Joined("", "")
    entry, new = _entry(drop, fan, now)
    if entry.status in (Entry.FULL, Entry.WAITLISTED):
        return Joined(entry.status, drop.full_text, new=new)
    code = _bind_code(drop, fan, now, new_entry=new)
    released, due = _release_state(drop)
    if released:
        # Late: the release went out without this fan. One "you made it" per entry.
        if DropEntry.objects.filter(pk=entry.pk, made_it_at__isnull=True).update(made_it_at=now):
            return Joined(entry.status, _text_with_code(drop.made_it, code, drop), code or "", new=new)
        return Joined(entry.status, "", code or "", new=new)
    if new and due is not None and due <= now + RACE_MARGIN:
        # The release is due about now: should it start between the check above and our commit,
        # its rows cannot include this fan (made from the list before we committed); the check
        # after commit sends "you made it" then. Earlier than that the dispatcher cannot start it.
        entry_id = entry.pk
        transaction.on_commit(lambda: drop_made_it_if_missed(entry_id=entry_id))
    return Joined(entry.status, _text_with_code(drop.confirmation, code, drop), code or "", new=new)


RACE_MARGIN = dt.timedelta(minutes=5)


def _entry(drop: Drop, fan: Fan, now: dt.datetime) -> tuple[DropEntry, bool]:
    """The fan's entry, made now if it is new (one INSERT ... ON CONFLICT DO NOTHING, so the same fan
    joining twice at once is one entry). Past the capacity a new one goes to the waitlist (or is
    turned away)."""
    entry_id = sql.insert_new(
        DropEntry, {"drop": drop.pk, "fan": fan.pk, "status": Entry.ENTERED, "created_at": now}, ["drop", "fan"]
    )
    if entry_id is None:
        return DropEntry.objects.get(drop=drop, fan=fan), False
    entry = DropEntry(pk=entry_id, drop=drop, fan=fan, status=Entry.ENTERED, created_at=now)
    # The capacity's counter is one conditional UPDATE (no overbooking). Without a capacity there
    # is no counter: one hot row every join of a burst would queue on (counts come from the rows).
    if drop.capacity is None or Drop.objects.filter(pk=drop.pk, entrants_count__lt=drop.capacity).update(
        entrants_count=F("entrants_count") + 1
    ):
        sql.insert_new(
            ContactListMember,
            {"contact_list": drop.entrants_list_id, "fan": fan.pk, "added_at": now},
            ["contact_list", "fan"],
        )
        return entry, True
    entry.status = Entry.WAITLISTED if drop.waitlist else Entry.FULL
    DropEntry.objects.filter(pk=entry_id).update(status=entry.status)
    if drop.waitlist:
        Drop.objects.filter(pk=drop.pk).update(waitlist_count=F("waitlist_count") + 1)
    return entry, True


def drop_made_it_if_missed(*, entry_id: int) -> bool:
    """After a join committed: if the release started without this entrant (its rows were made
    before the join committed), send "you made it" now, once (made_it_at, conditional)."""
    entry = DropEntry.objects.select_related("drop", "fan__talent").filter(pk=entry_id).first()
    if entry is None or entry.status != Entry.ENTERED or entry.made_it_at or entry.drop.campaign_id is None:
        return False
    if not _released(entry.drop):
        return False
    if OutboundMessage.objects.filter(campaign_id=entry.drop.campaign_id, fan_id=entry.fan_id).exists():
        return False  # the release has a row for this fan: the engine sends it
    if not DropEntry.objects.filter(pk=entry.pk, made_it_at__isnull=True).update(made_it_at=timezone.now()):
        return False
    code = DropCode.objects.filter(drop=entry.drop, fan=entry.fan).values_list("code", flat=True).first()
    if code is None and not entry.drop.codes.exists():
        code = ""
    return replies.reply(fan=entry.fan, body=_text_with_code(entry.drop.made_it, code, entry.drop), code=code or "")


def drop_counts(*, drop: Drop) -> dict[str, int]:
    """Entries by status, counted from the rows (the entry counter exists only under a capacity)."""
    found = dict(DropEntry.objects.filter(drop=drop).values_list("status").annotate(n=Count("id")).order_by())
    return {"entered": found.get(Entry.ENTERED, 0), "waitlisted": found.get(Entry.WAITLISTED, 0)}


def drop_preview(*, drop: Drop, fan: Fan) -> str:
    """What a fan would get for joining now (the console's "play as a fan"); writes nothing."""
    if drop.is_paused:
        return ""
    if drop.capacity is not None and drop.entrants_count >= drop.capacity:
        return drop.full_text
    has_codes = drop.codes.exists()
    code: str | None = ""
    if has_codes:
        code = _CODE_PREVIEW if drop.codes.filter(fan__isnull=True).exists() else None
    template = drop.made_it if _released(drop) else drop.confirmation
    return codes.filled(_text_with_code(template, code, drop), code or "")


# --- the box office's file ------------------------------------------------------------------------
CODE_COLUMNS = ["code", "phone", "first_name", "last_name", "assigned_at"]


def drop_codes_export(*, drop: Drop, actor) -> Iterator[str]:
    """Who got which code, as CSV lines; checks the export capability and writes the export log
    (ExportAudit) and the audit log before the first line. Erased fans' codes are gone."""
    _require(actor, "export", drop.talent_id)
    if actor is None:
        raise PermissionDenied("An export needs a team member.")
    with transaction.atomic():
        record = ExportAudit.objects.create(
            talent=drop.talent,
            actor=actor,
            via="console",
            audience_name=f"Drop codes: {drop.name}"[:200],
            columns=CODE_COLUMNS,
            audience="drop_codes",
        )
        audit("automation.drop_codes_exported", talent=drop.talent, actor=actor, obj=drop, export_id=record.pk)

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CODE_COLUMNS)
        count = 0
        rows = (
            DropCode.objects.filter(drop=drop, fan__isnull=False)
            .exclude(fan__status=Fan.Status.ERASED)
            .order_by("assigned_at", "id")
            .values_list("code", "fan__phone", "fan__first_name", "fan__last_name", "assigned_at")
        )
        for code, phone, first, last, at in rows.iterator(chunk_size=2000):
            writer.writerow(
                [
                    neutralise(code),
                    str(phone or ""),
                    neutralise(first or ""),
                    neutralise(last or ""),
                    at.isoformat() if at else "",
                ]
            )
            count += 1
            if count % 500 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()
        ExportAudit.objects.filter(pk=record.pk).update(row_count=count, completed=True, finished_at=timezone.now())

    return lines()
