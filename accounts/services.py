"""Fan rows: the pending fan a text creates, profile corrections. Consent changes live in consent/."""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Fan, PendingSignup, Talent
from accounts.phones import country_of, guess_time_zone, known_number, phone_hash, phone_text
from accounts.profile import PROFILE_FIELDS

# Fields a fan may correct on their data page (and the signup form fills): the one profile spec.


def fan_get_or_create_pending(*, talent: Talent, phone: str) -> tuple[Fan, bool]:
    """The fan row for a number that texted in: existing, or a new pending one (no consent yet)."""
    fan = Fan.objects.filter(talent=talent, phone=phone).first()
    if fan is not None:
        return fan, False
    new = pending_fan(talent, phone)
    try:
        # A savepoint: two webhooks from one number at once must not break the outer transaction.
        with transaction.atomic():
            new.save(force_insert=True)
    except IntegrityError:
        return Fan.objects.get(talent=talent, phone=phone), False
    return new, True


def pending_fan(talent: Talent, phone: str) -> Fan:
    """The new pending row for a number that texted in, not yet saved."""
    country = country_of(phone)
    new = Fan(
        talent=talent,
        phone=known_number(phone),  # parsed and validated once, not again by the insert
        phone_hash=phone_hash(talent_id=talent.pk, e164=phone),
        status=Fan.Status.PENDING,
        source=Fan.Source.SMS,
        country=country,
        time_zone=guess_time_zone(country=country, phone=phone),
    )
    new.rotate_link_nonce()
    return new


def fans_create_pending(*, talent: Talent, phones: set[str]) -> dict[str, Fan]:
    """New pending fans for numbers the caller just looked up and did not find (the rule
    processor's strangers of a chunk): one INSERT ... ON CONFLICT DO NOTHING RETURNING the rows it
    made, and a SELECT only of the numbers another transaction created in between (their row, as
    committed, wins: it may be active or opted out by now).

    bulk_create(ignore_conflicts=True) cannot say which rows it made, so the burst paid a second
    SELECT of every new fan (and a first one the caller had already made): about a tenth of the
    rule processor's CPU a first text (bench/lane_cpu.py's profile).
    The statement is Django's own (`QuerySet._insert`, what bulk_create calls, with the RETURNING
    it leaves out when conflicts are ignored): the same columns, defaults and pre_save values.
    Each number is parsed and validated once per process (accounts/phones.py `known_number`)."""
    if not phones:
        return {}
    new = {p: pending_fan(talent, p) for p in phones}
    made: set[str] = set()
    if connection.features.can_return_rows_from_bulk_insert:
        meta = Fan._meta
        fields = [f for f in meta.concrete_fields if not f.generated and f is not meta.pk]
        by_hash = {fan.phone_hash: phone for phone, fan in new.items()}
        with transaction.atomic(savepoint=False):
            rows = Fan.objects._insert(  # type: ignore[attr-defined]
                list(new.values()),
                fields=fields,
                returning_fields=[meta.pk, meta.get_field("phone_hash")],
                on_conflict=OnConflict.IGNORE,
            )
        for pk, hashed in rows:
            fan = new[by_hash[hashed]]
            fan.pk = pk
            fan._state.adding, fan._state.db = False, connection.alias
            made.add(by_hash[hashed])
    else:  # a database without RETURNING from a bulk insert: read back what the insert made
        Fan.objects.bulk_create(list(new.values()), ignore_conflicts=True)
    found = {p: new[p] for p in made}
    rest = [p for p in phones if p not in made]
    if rest:
        found.update({phone_text(f.phone): f for f in Fan.objects.filter(talent=talent, phone__in=_known_all(rest))})
    return found


def _known_all(numbers) -> list:
    return [known_number(p) for p in numbers]


def fan_profile_update(*, fan: Fan, changes: dict, actor=None) -> list[str]:
    """Correct a fan's profile; returns the changed field names (audited without their values)."""
    with transaction.atomic():
        locked = Fan.objects.select_for_update().get(pk=fan.pk)
        changed = [name for name in PROFILE_FIELDS if name in changes and getattr(locked, name) != changes[name]]
        for name in changed:
            setattr(locked, name, changes[name])
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            audit("fan.profile_corrected", talent=locked.talent, actor=actor, obj=locked, fields=changed)
    for name in changed:
        setattr(fan, name, changes[name])
    return changed


def pending_signups_expire() -> int:
    """Delete signups whose code expired: the typed number and profile go with them (the
    periodic task runs this every few minutes; the code page runs it too). Returns how many."""
    deleted, _ = PendingSignup.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
