"""Audience services and selectors: who is in a segment or list, list edits, imports and exports.

Selectors return querysets of accounts.Fan that compile to one SQL query (EXISTS subqueries for
lists and tags, never joins that could repeat a fan), so callers can count them, page them, or use
`.values("id")` inside an INSERT ... SELECT (the campaign materialiser does).

Imports and exports are in messaging/services/audience_io.py; this module re-exports their entry points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts import phones
from accounts.actors import require
from accounts.audit import audit
from accounts.models import Fan, Talent
from accounts.profile import PROFILE_FIELDS
from consent import texts
from consent.models import ConsentRecord
from consent.services import phone_is_erased, terms_for_signup
from messaging.audience.models import BUILTIN_SEGMENT_NAME, ContactList, ContactListMember, FanTag, Segment, Tag
from messaging.audience.segments import compile_definition


class AudienceError(ValueError):
    """A request about an audience that cannot be served (another talent's list, unknown segment ...)."""


# --- built-in segment ---------------------------------------------------------------------------------
BUILTIN_DEFINITION = {"all": [{"field": "status", "op": "in", "value": [Fan.Status.ACTIVE]}]}


def segment_ensure_builtin(*, talent: Talent) -> Segment:
    segment, _ = Segment.objects.get_or_create(
        talent=talent,
        is_builtin=True,
        defaults={"name": BUILTIN_SEGMENT_NAME, "definition": BUILTIN_DEFINITION, "description": "All active fans."},
    )
    return segment


# --- selectors ------------------------------------------------------------------------------------------
def segment_q(segment: Segment) -> Q:
    if segment.is_builtin:
        # Whatever is stored, `all` means every active fan.
        return Q(status=Fan.Status.ACTIVE)
    return compile_definition(segment.definition or {"all": []})


def segment_queryset(segment: Segment) -> QuerySet[Fan]:
    """The talent's fans matching the segment now (all statuses unless the rules say otherwise)."""
    return Fan.objects.filter(talent_id=segment.talent_id).filter(segment_q(segment))


def contact_list_queryset(contact_list: ContactList) -> QuerySet[Fan]:
    return Fan.objects.filter(talent_id=contact_list.talent_id).filter(_in_lists([contact_list.pk]))


def _in_lists(list_ids: Sequence[int]) -> Q:
    return Q(Exists(ContactListMember.objects.filter(fan_id=OuterRef("pk"), contact_list_id__in=list_ids)))


def _resolve(model, items: Iterable[Any], talent: Talent, noun: str) -> list:
    objs, ids = [], []
    for item in items:
        if isinstance(item, model):
            objs.append(item)
        else:
            ids.append(int(item))
    if ids:
        found = {o.pk: o for o in model.objects.filter(pk__in=ids, talent=talent)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise AudienceError(f"No {noun} with id {missing[0]} for {talent}.")
        objs.extend(found[i] for i in ids)
    for obj in objs:
        if obj.talent_id != talent.pk:
            raise AudienceError(f"{noun.capitalize()} {obj.pk} belongs to another talent.")
    return objs


def audience_queryset(
    *,
    talent: Talent,
    include_lists: Iterable[ContactList | int] = (),
    include_segments: Iterable[Segment | int] = (),
    exclude_lists: Iterable[ContactList | int] = (),
    exclude_segments: Iterable[Segment | int] = (),
) -> QuerySet[Fan]:
    """The talent's fans in any include (all active fans when none) and in no exclude, each once.

    One SQL query; no status filter beyond what the segments say (the send path drops opted-out
    and erased fans itself). Lists and segments of another talent raise AudienceError.
    """
    inc_lists = _resolve(ContactList, include_lists, talent, "contact list")
    inc_segs = _resolve(Segment, include_segments, talent, "segment")
    exc_lists = _resolve(ContactList, exclude_lists, talent, "contact list")
    exc_segs = _resolve(Segment, exclude_segments, talent, "segment")

    qs = Fan.objects.filter(talent_id=talent.pk)
    if inc_lists or inc_segs:
        parts = [segment_q(s) for s in inc_segs]
        if inc_lists:
            parts.append(_in_lists([cl.pk for cl in inc_lists]))
        include = parts[0]
        for part in parts[1:]:
            include |= part
        qs = qs.filter(include)
    else:
        qs = qs.filter(status=Fan.Status.ACTIVE)
    if exc_lists:
        qs = qs.exclude(_in_lists([cl.pk for cl in exc_lists]))
    for seg in exc_segs:
        qs = qs.exclude(segment_q(seg))
    return qs


# --- reachable fans --------------------------------------------------------------------------------------
# "Reachable" is what every count the team reads means: fans a campaign would text now. Active is
# the status only a consent service sets (signup, START, an import or console add with evidence),
# so it is "consented and not withdrawn"; opted-out, pending, held and erased fans are never reachable.
# Nor is an active fan whose number the provider said can never receive a text (21211, 21614, 30005,
# 30006: the send engine's UndeliverableNumber, per talent and phone): every campaign would suppress
# them, so counting them would promise texts, and cost, that never happen.
REACHABLE = Q(status=Fan.Status.ACTIVE)  # the status part; `reachable_q()` is the whole meaning

# What makes an active fan unreachable lives in layers above this one (the send engine's dead
# numbers), so those layers register a builder here (messaging/apps.py) instead of being imported:
# each is called with no argument and returns an expression true for a Fan row that cannot be texted
# (an Exists() on OuterRef("talent_id") / OuterRef("phone")).
UNREACHABLE: list[Callable[[], Any]] = []


def unreachable_q() -> Q | None:
    """Active fans who still cannot be texted (a provider-dead number); None when nothing is registered."""
    q = None
    for build in UNREACHABLE:
        q = Q(build()) if q is None else q | Q(build())
    return q


def reachable_q() -> Q:
    dead = unreachable_q()
    return REACHABLE if dead is None else REACHABLE & ~dead


def reachable(qs: QuerySet[Fan]) -> QuerySet[Fan]:
    return qs.filter(reachable_q())


def audience_breakdown(qs: QuerySet[Fan]) -> dict[str, int]:
    """How many of `qs` are reachable, and why the others are not: one aggregate query (one scan).

    Keys: reachable, active (any active fan), undeliverable (active, but the number cannot receive
    texts: active - reachable), opted_out, pending, erased, held (a possible opt-out the team has
    not decided yet, issue 15: texted nothing meanwhile), total.
    """
    counts = qs.order_by().aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status=Fan.Status.ACTIVE)),
        reachable=Count("id", filter=reachable_q()),
        opted_out=Count("id", filter=Q(status=Fan.Status.OPTED_OUT)),
        pending=Count("id", filter=Q(status=Fan.Status.PENDING)),
        erased=Count("id", filter=Q(status=Fan.Status.ERASED)),
        held=Count("id", filter=Q(status=Fan.Status.HELD)),
    )
    counts["undeliverable"] = counts["active"] - counts["reachable"]
    return counts


def segment_preview(*, talent: Talent, definition: dict, sample_size: int = 10) -> tuple[int, list[Fan]]:
    """Reachable count and a sample of the reachable fans a (validated) definition matches."""
    qs = reachable(Fan.objects.filter(talent_id=talent.pk).filter(compile_definition(definition)))
    return qs.count(), list(qs.order_by("-id")[:sample_size])


def segment_counts(*, talent: Talent, definition: dict) -> dict[str, int]:
    """The breakdown (audience_breakdown) of the fans a validated definition matches, any status."""
    return audience_breakdown(Fan.objects.filter(talent_id=talent.pk).filter(compile_definition(definition)))


def segment_size(segment: Segment, *, max_age: int = 120) -> int:
    """Reachable fans in a saved segment, cached briefly: the segment list shows one per row, and
    each is a scan over the talent's fans (~0.1-0.3 s at a million), too slow to repeat per view."""
    key = f"audience:segment-size:{segment.pk}:{segment.updated_at.timestamp() if segment.updated_at else 0}"
    size = cache.get(key)
    if size is None:
        size = reachable(segment_queryset(segment)).count()
        cache.set(key, size, max_age)
    return size


# --- contact lists -----------------------------------------------------------------------------------------
def contact_list_add_fans(*, contact_list: ContactList, fans: QuerySet[Fan], actor: Any = None) -> int:
    """Add fans (any queryset; other talents' fans are ignored) in one INSERT ... SELECT. Returns how many were new."""
    try:
        fan_sql, params = fans.filter(talent_id=contact_list.talent_id).order_by().values("id").query.sql_with_params()
    except EmptyResultSet:  # e.g. id__in=[]: Django compiles no SQL for a query that matches nothing
        return 0
    table = connection.ops.quote_name(ContactListMember._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join clause.
    sql = (
        f"INSERT INTO {table} (contact_list_id, fan_id, added_at) "  # noqa: S608 - names from _meta, values bound
        f"SELECT %s, sub.id, %s FROM ({fan_sql}) sub WHERE true "
        "ON CONFLICT (contact_list_id, fan_id) DO NOTHING"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [contact_list.pk, now, *params])
        added = max(cursor.rowcount, 0)
        audit("contact_list.fans_added", talent=contact_list.talent, actor=actor, obj=contact_list, count=added)
    return added


def contact_list_remove_fans(*, contact_list: ContactList, fans: QuerySet[Fan], actor: Any = None) -> int:
    with transaction.atomic():
        removed, _ = ContactListMember.objects.filter(
            contact_list=contact_list, fan_id__in=fans.order_by().values("id")
        ).delete()
        audit("contact_list.fans_removed", talent=contact_list.talent, actor=actor, obj=contact_list, count=removed)
    return removed


def contact_list_delete(*, contact_list: ContactList, actor: Any = None) -> None:
    with transaction.atomic():
        audit("contact_list.deleted", talent=contact_list.talent, actor=actor, obj=contact_list, name=contact_list.name)
        contact_list.delete()


def segment_delete(*, segment: Segment, actor: Any = None) -> None:
    if segment.is_builtin:
        raise AudienceError("The built-in segment 'all' cannot be deleted.")
    with transaction.atomic():
        audit("segment.deleted", talent=segment.talent, actor=actor, obj=segment, name=segment.name)
        segment.delete()


def fan_tags_add(*, talent: Talent, tag_name: str, fans: QuerySet[Fan], actor: Any = None) -> int:
    """Tag fans (creating the tag if needed); returns how many fans newly carry it."""
    tag_name = tag_name.strip()
    if not tag_name or len(tag_name) > 60:
        raise AudienceError("A tag name has 1 to 60 characters.")
    with transaction.atomic():
        tag, _ = Tag.objects.get_or_create(talent=talent, name=tag_name)
        ids = list(fans.filter(talent_id=talent.pk).values_list("id", flat=True))
        before = FanTag.objects.filter(tag=tag).count()
        FanTag.objects.bulk_create([FanTag(tag=tag, fan_id=i) for i in ids], ignore_conflicts=True, batch_size=2000)
        added = FanTag.objects.filter(tag=tag).count() - before
        audit("tag.fans_added", talent=talent, actor=actor, obj=tag, count=added)
    return added


# --- fans added by the team ------------------------------------------------------------------------------
# How a fan the team adds by hand agreed to texts: recorded on their consent record, so the console
# add is evidence like a signup, never a silent "active".
CONSENT_HOW = {
    "in_person": "In person (signed a paper form or a tablet at an event)",
    "phone_call": "On a phone call with the team",
    "written": "In writing (email, letter, DM) kept by the team",
}


def talent_region(talent: Talent) -> str:
    """The country a number typed without +code belongs to: the talent's first served country."""
    served = [c.strip() for c in talent.served_countries.split(",") if c.strip()]
    return served[0] if served else settings.PHONENUMBER_DEFAULT_REGION


def console_number_check(*, talent: Talent, raw_phone: str) -> str:
    """E.164 of a number the team wants to add or invite, or AudienceError saying why not.

    The same refusals as the signup form: a mobile number, in a country the talent serves, not
    a number that texted STOP (only its owner reopens it, by texting START) or asked to be erased.
    """
    try:
        e164 = phones.parse_mobile(raw_phone, region=talent_region(talent))
    except phones.PhoneError as exc:
        raise AudienceError(str(exc)) from None
    if not talent.serves_country(phones.country_of(e164)):
        raise AudienceError(f"{talent} does not take fans from that country ({phones.country_of(e164) or '?'}).")
    if phone_is_erased(talent=talent, e164=e164):
        raise AudienceError("This number asked to be erased; only its owner can join again, through the signup page.")
    existing = Fan.objects.filter(talent=talent, phone=e164).first()
    if existing is not None and existing.status == Fan.Status.OPTED_OUT:
        raise AudienceError("This number texted STOP: only the fan can rejoin, by texting START.")
    if existing is not None and existing.status in (Fan.Status.ACTIVE, Fan.Status.HELD):
        # A held fan is a fan whose last text may have meant stop: the team decides that in the
        # fan list, never by texting them again from here.
        raise AudienceError(f"{existing} is already a fan.")
    return e164


def fan_console_add(
    *, talent: Talent, phone: str, profile: dict, consent_how: str, consent_note: str, actor: Any
) -> Fan:
    """A fan the team adds by hand, who agreed in person, on a call or in writing.

    Recorded as such: source = console, a messaging ConsentRecord (method console) saying how
    consent was obtained, an audit row naming the team member. A pending row (the number texted
    in) becomes active. The caller texts the signup confirmation in the same transaction.
    """
    require(actor, "edit_audience", talent)
    if consent_how not in CONSENT_HOW:
        raise AudienceError("Say how the fan agreed to receive texts.")
    e164 = console_number_check(talent=talent, raw_phone=phone)
    terms, privacy = terms_for_signup(talent=talent)
    now = timezone.now()
    with transaction.atomic():
        fan = Fan.objects.select_for_update().filter(talent=talent, phone=e164).first()
        if fan is None:
            fan = Fan(talent=talent, phone=e164, source=Fan.Source.ADMIN)
        elif fan.status != Fan.Status.PENDING:  # changed since the check above
            raise AudienceError(f"{fan} is already {fan.get_status_display().lower()}.")
        for name in PROFILE_FIELDS:
            if profile.get(name) not in (None, ""):
                setattr(fan, name, profile[name])
        if not fan.country:
            fan.country = phones.country_of(e164)
        fan.phone_hash = phones.phone_hash(talent_id=talent.pk, e164=e164)
        fan.status = Fan.Status.ACTIVE
        fan.joined_at = now
        fan.save()
        note = f"{consent_how}: {consent_note.strip()}" if consent_note.strip() else consent_how
        ConsentRecord.objects.create(
            fan=fan,
            talent=talent,
            purpose=ConsentRecord.Purpose.MESSAGING,
            action=ConsentRecord.Action.GRANTED,
            method=ConsentRecord.Method.CONSOLE,
            terms=terms,
            privacy=privacy,
            disclosure=texts.messaging_disclosure(talent),
            evidence=f"{note} (added by {getattr(actor, 'username', 'the team')})"[:200],
        )
        audit("fan.added_in_console", talent=talent, actor=actor, obj=fan, consent=consent_how)
    return fan


__all__ = [
    "AudienceError",
    "audience_queryset",
    "contact_list_add_fans",
    "contact_list_delete",
    "contact_list_queryset",
    "contact_list_remove_fans",
    "console_number_check",
    "fan_console_add",
    "fan_tags_add",
    "segment_delete",
    "segment_ensure_builtin",
    "audience_breakdown",
    "reachable",
    "reachable_q",
    "unreachable_q",
    "segment_counts",
    "segment_preview",
    "segment_size",
    "segment_queryset",
]
