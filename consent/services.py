"""Consent workflows: signup, opt-out/opt-in, partner sharing, terms publishing, export, erasure.

Every change of a fan's consent state writes an append-only ConsentRecord in the same
transaction as the state change (STYLE.md 4). Sending texts is the caller's business
(messaging depends on consent, never the reverse): services return what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from accounts import outbox, phones
from accounts.audit import audit
from accounts.models import Fan, Talent
from accounts.services import PROFILE_FIELDS
from consent import texts
from consent.models import ConsentRecord, TermsDocument

Purpose = ConsentRecord.Purpose
Action = ConsentRecord.Action
Method = ConsentRecord.Method


def phone_hash(*, talent: Talent, e164: str) -> str:
    """The keyed hash an erased fan's number survives as. Imports: skip a number when
    Fan.objects.filter(talent=talent, status="erased", phone_hash=phone_hash(talent=..., e164=...))
    exists."""
    return phones.phone_hash(talent_id=talent.pk, e164=e164)


def phone_is_erased(*, talent: Talent, e164: str) -> bool:
    return Fan.objects.filter(
        talent=talent, status=Fan.Status.ERASED, phone_hash=phone_hash(talent=talent, e164=e164)
    ).exists()


# --- Terms ------------------------------------------------------------------------------------
PLATFORM_TERMS_REFUSED = (
    "Only platform staff publish platform-wide documents. Choose your talent: its own version "
    "replaces the platform's on its signup page."
)


def terms_current(*, talent: Talent, kind: str) -> TermsDocument | None:
    """The newest published version of the talent's document, else the platform-wide one."""
    published = TermsDocument.objects.filter(kind=kind, published_at__isnull=False, published_at__lte=timezone.now())
    return (
        published.filter(talent=talent).order_by("-version").first()
        or published.filter(talent__isnull=True).order_by("-version").first()
    )


def terms_for_signup(*, talent: Talent) -> tuple[TermsDocument | None, TermsDocument | None]:
    return (
        terms_current(talent=talent, kind=TermsDocument.Kind.TERMS),
        terms_current(talent=talent, kind=TermsDocument.Kind.PRIVACY),
    )


def terms_publish(
    *,
    talent: Talent | None,
    kind: str,
    title: str,
    summary: str,
    body: str,
    is_material: bool = False,
    actor=None,
) -> tuple[TermsDocument, list[int]]:
    """Publish the next version (older ones stay, consents keep pointing at them).

    A material version pauses partner sharing for every fan who agreed under an older version:
    shares_with_partners goes False (so no export or partner feed includes them) until the fan
    agrees again on their data page. Returns the document and the ids of fans to ask again by SMS.
    """
    if talent is None and actor is not None and not getattr(actor, "is_superuser", False):
        # A platform-wide version changes every talent's signup page (and a material one pauses
        # their fans' sharing and texts them): platform staff only. actor=None is the system itself
        # (a migration, a management command run by the operator).
        raise PermissionDenied(PLATFORM_TERMS_REFUSED)
    with transaction.atomic():
        # Lock the talent so two publishers cannot both take version N+1.
        if talent is not None:
            Talent.objects.select_for_update().filter(pk=talent.pk).first()
        latest = TermsDocument.objects.filter(talent=talent, kind=kind).aggregate(v=Max("version"))["v"] or 0
        document = TermsDocument.objects.create(
            talent=talent,
            kind=kind,
            version=latest + 1,
            title=title,
            summary=summary,
            body=body,
            is_material=is_material,
            published_at=timezone.now(),
        )
        fan_ids: list[int] = []
        if is_material:
            sharers = Fan.objects.filter(shares_with_partners=True).exclude(status=Fan.Status.ERASED)
            if talent is not None:
                sharers = sharers.filter(talent=talent)
            else:
                # Platform-wide: only talents without their own document of this kind use it.
                own = TermsDocument.objects.filter(kind=kind, talent__isnull=False, published_at__isnull=False)
                sharers = sharers.exclude(talent_id__in=own.values("talent_id"))
            fan_ids = list(sharers.values_list("pk", flat=True))
            Fan.objects.filter(pk__in=fan_ids).update(
                shares_with_partners=False, sharing_reconsent_requested_at=timezone.now(), updated_at=timezone.now()
            )
        audit(
            "terms.published",
            talent=talent,
            actor=actor,
            obj=document,
            kind=kind,
            version=document.version,
            material=is_material,
            sharing_paused=len(fan_ids),
        )
    return document, fan_ids


# --- Signup -----------------------------------------------------------------------------------


@dataclass
class Evidence:
    """Where and how a consent decision was made."""

    method: str
    ip: str | None = None
    user_agent: str = ""
    evidence: str = ""


@dataclass
class SignupResult:
    fan: Fan
    created: bool
    records: list[ConsentRecord] = field(default_factory=list)


class SignupRefused(Exception):
    """A signup the service will not record (the form checks these first; this is the backstop)."""


def fan_signup(
    *,
    talent: Talent,
    phone: str,
    profile: dict,
    messaging_consent: bool,
    sharing_consent: bool,
    terms: TermsDocument,
    privacy: TermsDocument,
    evidence: Evidence,
    source: str = Fan.Source.WEB,
) -> SignupResult:
    """Create or update the fan for (talent, phone) and record one consent per purpose.

    All in one transaction: a failure leaves nothing half-written. The same phone signing up
    again updates its row (never a duplicate). The fan's link nonce rotates, so the signup link
    that brought them here is dead once used.
    """
    if not messaging_consent:
        raise SignupRefused("Messaging consent is required to join.")
    if not talent.is_active:
        raise SignupRefused("This community is not accepting signups.")
    for document, kind in ((terms, TermsDocument.Kind.TERMS), (privacy, TermsDocument.Kind.PRIVACY)):
        if document.kind != kind or document.published_at is None or document.talent_id not in (talent.pk, None):
            raise SignupRefused("The documents shown are not this talent's published terms.")
    now = timezone.now()
    with transaction.atomic():
        fan = Fan.objects.select_for_update().filter(talent=talent, phone=phone).first()
        created = fan is None
        if created:
            fan = Fan(talent=talent, phone=phone, source=source)
        assert fan is not None  # found or just built
        was_active = fan.status == Fan.Status.ACTIVE
        for name in PROFILE_FIELDS:
            if name in profile:
                setattr(fan, name, profile[name])
        fan.phone_hash = phone_hash(talent=talent, e164=phone)
        fan.status = Fan.Status.ACTIVE
        if not was_active:
            fan.joined_at = now
        fan.opted_out_at = None
        fan.shares_with_partners = bool(sharing_consent)
        fan.sharing_reconsent_requested_at = None
        fan.rotate_link_nonce()
        try:
            with transaction.atomic():
                fan.save()
        except IntegrityError:
            # Another request created this phone's row between our SELECT and INSERT (two taps
            # on submit): nothing was written here; the caller shows the form again.
            raise SignupRefused("This number just signed up; please check your texts.")
        common = {
            "fan": fan,
            "talent": talent,
            "method": evidence.method,
            "terms": terms,
            "privacy": privacy,
            "ip_address": evidence.ip or None,
            "user_agent": (evidence.user_agent or "")[:400],
            "evidence": evidence.evidence[:200],
        }
        records = [
            ConsentRecord.objects.create(
                purpose=Purpose.MESSAGING,
                action=Action.GRANTED,
                disclosure=texts.messaging_disclosure(talent),
                **common,
            ),
            ConsentRecord.objects.create(
                purpose=Purpose.PARTNER_SHARING,
                action=Action.GRANTED if sharing_consent else Action.DECLINED,
                disclosure=texts.sharing_disclosure(talent),
                **common,
            ),
        ]
        audit("fan.signed_up", talent=talent, obj=fan, created=created, sharing=bool(sharing_consent))
        if not was_active:  # outgoing webhooks (issue 16): in the signup's transaction
            outbox.emit_fan(fan, "fan.joined", source=fan.source, joined_at=outbox.iso(fan.joined_at))
    return SignupResult(fan=fan, created=created, records=records)


# --- Opt-out / opt-in / sharing ---------------------------------------------------------------


def terms_ids_current(*, talent_id: int) -> tuple[int | None, int | None]:
    """The ids terms_for_signup would give (terms, privacy), in one plain statement of four columns.

    A consent record only points at the versions: loading both documents' bodies through four
    ORM queries was a fifth of a STOP's CPU, and a STOP is answered inside the webhook's request
    (compiling even the one queryset was a tenth of it)."""
    sql, params = terms_current_sql(talent_id=talent_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return terms_ids_of(cursor.fetchall())


def terms_current_sql(*, talent_id: int) -> tuple[str, list]:
    """The statement terms_ids_current runs: rows of (id, kind, talent_id, version), for
    `terms_ids_of`. The webhook's STOP folds it into its first statement (messaging/conversations/stop.py)."""
    sql = (
        f"SELECT id, kind, talent_id, version FROM {TermsDocument._meta.db_table} "  # noqa: S608 - table name
        "WHERE (talent_id = %s OR talent_id IS NULL) AND published_at IS NOT NULL AND published_at <= %s"
    )
    return sql, [talent_id, timezone.now()]


def terms_ids_of(rows: Iterable[Sequence]) -> tuple[int | None, int | None]:
    """(terms id, privacy id) from the rows of `terms_current_sql`: per kind, the newest version,
    the talent's own winning over any platform one."""
    newest: dict[tuple[str, bool], tuple[int, int]] = {}
    for pk, kind, owner, version in rows:
        key = (kind, owner is not None)
        if key not in newest or version > newest[key][1]:
            newest[key] = (pk, version)

    def pick(kind: str) -> int | None:
        found = newest.get((kind, True)) or newest.get((kind, False))
        return found[0] if found else None

    return pick(TermsDocument.Kind.TERMS), pick(TermsDocument.Kind.PRIVACY)


def _record(fan: Fan, purpose: str, action: str, evidence: Evidence, *, disclosure: str = "") -> ConsentRecord:
    record = consent_record(fan, purpose, action, evidence, disclosure=disclosure)
    record.save(force_insert=True)
    return record


def consent_record(
    fan: Fan,
    purpose: str,
    action: str,
    evidence: Evidence,
    *,
    disclosure: str = "",
    terms: tuple[int | None, int | None] | None = None,
) -> ConsentRecord:
    """The record `_record` writes, not yet saved (the webhook's STOP writes it in a statement of its
    own, messaging/conversations/stop.py): it points at the terms and privacy versions current now,
    `terms` when the caller read them already (terms_ids_current's answer)."""
    terms_id, privacy_id = terms if terms is not None else terms_ids_current(talent_id=fan.talent_id)
    return ConsentRecord(
        fan=fan,
        talent_id=fan.talent_id,
        purpose=purpose,
        action=action,
        method=evidence.method,
        terms_id=terms_id,
        privacy_id=privacy_id,
        disclosure=disclosure,
        ip_address=evidence.ip or None,
        user_agent=(evidence.user_agent or "")[:400],
        evidence=evidence.evidence[:200],
    )


def fan_opt_out(*, fan: Fan, evidence: Evidence, locked: bool = False) -> bool:
    """Stop all messaging to the fan at once. True when the status changed.

    The status update commits before any further message is claimed: the send path re-checks
    status at claim time, so a STOP mid-blast takes effect before the next message leaves.
    `locked`: the caller read `fan` under its row lock in the transaction it is in (the webhook's
    STOP, messaging/conversations/inbound.py): no second lock, no savepoint, a third fewer
    statements inside the request.
    """
    if locked and not transaction.get_connection().in_atomic_block:
        raise ValueError("locked=True needs the caller's transaction that holds the fan's lock")
    with transaction.atomic(savepoint=not locked):
        if not locked:
            row = Fan.objects.select_for_update().get(pk=fan.pk)
            if Fan.talent.is_cached(fan):  # the caller's talent object: no second query for it
                row.talent = fan.talent
        else:
            row = fan
        if row.status in (Fan.Status.OPTED_OUT, Fan.Status.ERASED):
            fan.status = row.status
            return False
        row.status = Fan.Status.OPTED_OUT
        row.opted_out_at = timezone.now()
        row.save(update_fields=["status", "opted_out_at", "updated_at"])
        _record(row, Purpose.MESSAGING, Action.WITHDRAWN, evidence)
        audit("fan.opted_out", talent=row.talent, obj=row, method=evidence.method)
        outbox.emit_fan(row, "fan.opted_out", method=evidence.method, opted_out_at=outbox.iso(row.opted_out_at))
    fan.status, fan.opted_out_at = row.status, row.opted_out_at
    return True


def fan_opt_in(*, fan: Fan, evidence: Evidence) -> bool:
    """Re-subscribe a fan who joined once and left (or is held). True when the status changed.

    Never a number that has not joined: START from it would make an active fan without a birth
    date (past the age gate) and a consent record for terms never shown. Such a number gets the
    signup link instead (consent/keywords.py rule 7); this is the backstop.
    """
    with transaction.atomic():
        locked = Fan.objects.select_for_update().get(pk=fan.pk)
        if locked.status in (Fan.Status.ACTIVE, Fan.Status.ERASED) or locked.joined_at is None:
            fan.status = locked.status
            return False
        locked.status = Fan.Status.ACTIVE
        locked.opted_out_at = None
        locked.save(update_fields=["status", "opted_out_at", "updated_at"])
        _record(
            locked, Purpose.MESSAGING, Action.GRANTED, evidence, disclosure=texts.opt_in_confirmation(locked.talent)
        )
        audit("fan.opted_in", talent=locked.talent, obj=locked, method=evidence.method)
        outbox.emit_fan(locked, "fan.joined", source=locked.source, joined_at=outbox.iso(locked.joined_at))
    fan.status, fan.opted_out_at, fan.joined_at = locked.status, locked.opted_out_at, locked.joined_at
    return True


def fan_join_requested(*, fan: Fan, evidence: Evidence) -> bool:
    """A number that texted STOP before it ever joined now texts START: it asks for the signup
    link, nothing more. It goes back to pending (a join link may reach it; campaigns never do) and
    no consent is recorded: that comes with the signup form, the terms and the age gate. True when
    the status changed."""
    with transaction.atomic():
        locked = Fan.objects.select_for_update().get(pk=fan.pk)
        if locked.status != Fan.Status.OPTED_OUT or locked.joined_at is not None:
            fan.status = locked.status
            return False
        locked.status = Fan.Status.PENDING
        locked.opted_out_at = None
        locked.save(update_fields=["status", "opted_out_at", "updated_at"])
        audit("fan.asked_to_join", talent=locked.talent, obj=locked, method=evidence.method)
    fan.status, fan.opted_out_at = locked.status, None
    return True


def _status_move(fan: Fan, source: str, target: str, action: str, **details: Any) -> bool:
    """Move a fan from `source` to `target` status under a row lock, audited; False (and `fan`
    refreshed) when another request moved it first. Not a consent change: no record."""
    with transaction.atomic():
        locked = Fan.objects.select_for_update().get(pk=fan.pk)
        if locked.status != source:
            fan.status = locked.status
            return False
        locked.status = target
        locked.save(update_fields=["status", "updated_at"])
        audit(action, talent=locked.talent, obj=locked, **details)
    fan.status = locked.status
    return True


def fan_hold(*, fan: Fan, evidence: Evidence) -> bool:
    """A text that may mean stop (rule 5): hold an active fan from campaigns until the team
    decides. Not a consent change (no record); audited. True when the status changed."""
    return _status_move(
        fan, Fan.Status.ACTIVE, Fan.Status.HELD, "fan.held", method=evidence.method, evidence=evidence.evidence[:64]
    )


def fan_hold_release(*, fan: Fan, actor=None) -> bool:
    """The team read the held text and it did not mean stop: campaigns reach the fan again.
    (If it did mean stop, the team calls fan_opt_out with the console method.)"""
    return _status_move(fan, Fan.Status.HELD, Fan.Status.ACTIVE, "fan.hold_released", actor=actor)


def fan_sharing_set(*, fan: Fan, share: bool, evidence: Evidence) -> bool:
    """Grant or withdraw partner sharing (against the current documents). True when it changed."""
    with transaction.atomic():
        locked = Fan.objects.select_for_update().get(pk=fan.pk)
        if locked.status == Fan.Status.ERASED:
            return False
        pending_reconsent = locked.sharing_reconsent_requested_at is not None
        if locked.shares_with_partners == share and not (share and pending_reconsent):
            return False
        locked.shares_with_partners = share
        locked.sharing_reconsent_requested_at = None
        locked.save(update_fields=["shares_with_partners", "sharing_reconsent_requested_at", "updated_at"])
        _record(
            locked,
            Purpose.PARTNER_SHARING,
            Action.GRANTED if share else Action.WITHDRAWN,
            evidence,
            disclosure=texts.sharing_disclosure(locked.talent),
        )
        audit("fan.sharing_changed", talent=locked.talent, obj=locked, share=share, method=evidence.method)
    fan.shares_with_partners = share
    fan.sharing_reconsent_requested_at = None
    return True


# --- The fan's data ---------------------------------------------------------------------------


@dataclass
class PrivacyFacts:
    """What the public privacy page of a talent states (consent/views.py privacy)."""

    fields: list[dict]
    always: list[dict]
    retention: list[dict]
    team: list[dict]
    partners: list


def privacy_facts(*, talent: Talent) -> PrivacyFacts:
    """The page's facts, read from what the code does (the profile spec, the talent's choices,
    its retention days, the role table, its partner list), so the page cannot drift from it."""
    from django.conf import settings

    from accounts.models import TeamMember
    from accounts.permissions import CAPABILITIES
    from accounts.profile import birth_date_why, signup_spec

    # The birth date's why in the signup form's words (issue 14: it may also be for a birthday text).
    birthday_why = birth_date_why(birthday_texts=talent.birth_date_for_birthday)
    fields = [
        {"label": spec.label, "why": birthday_why if spec.name == "birth_date" else spec.why, "required": spec.required}
        for spec in signup_spec(talent.signup_fields)
    ]
    always = [
        {"label": "Mobile number", "why": "To text you; it is how the community works."},
        {"label": "Your consents", "why": "Proof of what you agreed to and when (with your device's address)."},
        {"label": "Texts both ways", "why": "So the team can read and answer your replies."},
    ]
    minutes = max(1, settings.PHONE_CODE_MAX_AGE // 60)
    retention = [
        {"what": "Texts both ways (their words)", "kept": f"{talent.keep_message_bodies_days} days"},
        {"what": "Pictures you text us", "kept": f"{talent.keep_inbound_media_days} days"},
        {"what": "Import reports (may quote a row)", "kept": f"{talent.keep_import_reports_days} days"},
        {"what": "A signup waiting for its code", "kept": f"{minutes} minutes, deleted within the hour"},
        {"what": "Your profile", "kept": "Until you delete it (text the data keyword for a link)"},
        {"what": "Consent records, counts and delivery statuses", "kept": "Kept: they prove what you agreed to"},
    ]
    counts = dict(
        TeamMember.objects.filter(talent=talent).values_list("role").annotate(n=models.Count("id")).order_by()
    )
    team = []
    for role in TeamMember.Role:
        sees = "your profile and your texts" if role in CAPABILITIES["view"] else ""
        extra = " and can export fans who agreed to sharing" if role in CAPABILITIES["export"] else ""
        team.append({"role": role.label, "count": counts.get(role.value, 0), "sees": sees + extra})
    partners = list(talent.partners.filter(is_active=True).order_by("name"))
    return PrivacyFacts(fields=fields, always=always, retention=retention, team=team, partners=partners)


def fans_to_reconsent(*, talent: Talent) -> list[int]:
    return list(
        Fan.objects.filter(talent=talent, sharing_reconsent_requested_at__isnull=False)
        .exclude(status=Fan.Status.ERASED)
        .values_list("pk", flat=True)
    )


__all__ = [
    "Evidence",
    "SignupRefused",
    "SignupResult",
    "fan_hold",
    "fan_hold_release",
    "fan_join_requested",
    "fan_opt_in",
    "fan_opt_out",
    "fan_sharing_set",
    "fan_signup",
    "phone_hash",
    "phone_is_erased",
    "privacy_facts",
    "terms_current",
    "terms_ids_current",
    "terms_for_signup",
    "terms_publish",
]
