"""Audiences: static contact lists, tags, live segments, and the import/export records around them."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from accounts.models import Fan, Talent
from messaging.audience.rules import SegmentRuleError, normalise_answer, normalise_definition, walk_conditions

BUILTIN_SEGMENT_NAME = "all"


class NamedInTalent(models.Model):
    """What a list, a tag and a segment share: the team names it, the name is unique within its
    talent (`<model>_name_unique`; the API and the console refuse a clash with a message first),
    and pages list them by name. Each subclass declares its own `talent` (its related name) and
    `name` (its length). Abstract: no table, no migration."""

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["talent", "name"], name="%(class)s_name_unique")]


class ContactList(NamedInTalent):
    """A named, static set of a talent's fans."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="contact_lists")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    fans: models.ManyToManyField[Fan, ContactListMember] = models.ManyToManyField(
        Fan, through="ContactListMember", related_name="contact_lists"
    )

    def __str__(self) -> str:
        return self.name


class ContactListMember(models.Model):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="list_memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact_list", "fan"], name="contactlist_member_unique")]
        indexes = [models.Index(fields=["fan", "contact_list"], name="contactlist_member_fan")]

    def __str__(self) -> str:
        return f"fan {self.fan_id} in list {self.contact_list_id}"


class Tag(NamedInTalent):
    """A label the team puts on fans ("vip", "presale-2026"); segments can filter on it."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=60)

    def __str__(self) -> str:
        return self.name


class FanTag(models.Model):
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="fan_tags")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="fan_tags")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "fan"], name="fantag_unique")]
        # Segment rules ask "does this fan carry one of these tags": EXISTS on (fan, tag).
        indexes = [models.Index(fields=["fan", "tag"], name="fantag_fan")]

    def __str__(self) -> str:
        return f"fan {self.fan_id} tagged {self.tag_id}"


def validate_definition(definition: Any, *, talent_id: int | None) -> dict:
    """The full check of a segment rule: its shape (rules.py), then that every list and tag it
    names exists and belongs to the segment's talent. Returns the normalised definition."""
    normalised = normalise_definition(definition)
    for path, cond in walk_conditions(normalised):
        if cond["field"] == "poll":
            _check_poll(path, cond["value"], talent_id=talent_id)
            continue
        if cond["field"] not in ("list", "tag"):
            continue
        model = ContactList if cond["field"] == "list" else Tag
        # talent_id None (a segment not saved yet) matches no row: every list or tag it names is missing.
        found = set(model.objects.filter(talent_id=talent_id, id__in=cond["value"]).values_list("id", flat=True))  # type: ignore[misc]
        missing = [i for i in cond["value"] if i not in found]
        if missing:
            noun = "contact list" if cond["field"] == "list" else "tag"
            raise SegmentRuleError(f"{path} ({cond['field']}): no {noun} with id {missing[0]} for this talent")
    return normalised


def _check_poll(path: str, value: dict, *, talent_id: int | None) -> None:
    """The poll is one of this talent's campaigns' and every answer is one of its answers. Polls are
    the conversations layer's: read by model label, not imported (the layering direction)."""
    poll = apps.get_model("messaging", "Poll").objects.filter(pk=value["poll"], campaign__talent_id=talent_id).first()
    if poll is None:
        raise SegmentRuleError(f"{path} (poll): no poll with id {value['poll']} for this talent")
    keys = [normalise_answer(str(o.get("key", ""))) for o in poll.options or []]
    unknown = [a for a in value["answers"] if a not in keys]
    if unknown:
        raise SegmentRuleError(
            f"{path} (poll): {unknown[0]!r} is not an answer of poll {poll.pk} (its answers: {', '.join(keys)})"
        )


class SegmentQuerySet(models.QuerySet):
    def delete(self):
        # The built-in `all` segment is what campaigns fall back to; a bulk delete must not take it.
        if self.filter(is_builtin=True).exists():
            raise ValidationError("The built-in segment 'all' cannot be deleted.")
        return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]  # Django reads these function attributes
    delete.queryset_only = True  # type: ignore[attr-defined]


class Segment(NamedInTalent):
    """A saved filter over a talent's fans, evaluated live when used (see messaging/segments.py)."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    # Structured rule tree, validated on save and compiled to one SQL query.
    definition = models.JSONField(default=dict, blank=True)
    # The built-in `all` segment (all active fans) that every talent has and nobody may delete.
    is_builtin = models.BooleanField(default=False, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SegmentQuerySet.as_manager()

    class Meta(NamedInTalent.Meta):
        ordering = ["-is_builtin", "name"]  # the built-in `all` first

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # Validated on every save, not only in forms: a bad rule must never reach the compiler.
        if not self.is_builtin:
            self.definition = validate_definition(self.definition, talent_id=self.talent_id)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_builtin:
            raise ValidationError("The built-in segment 'all' cannot be deleted.")
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        if not self.is_builtin and self.name == BUILTIN_SEGMENT_NAME:
            raise ValidationError({"name": f"'{BUILTIN_SEGMENT_NAME}' is the built-in segment's name."})
        if self.is_builtin:
            return
        try:
            self.definition = validate_definition(self.definition, talent_id=self.talent_id)
        except SegmentRuleError as exc:
            raise ValidationError({"definition": str(exc)}) from None


class ImportBatch(models.Model):
    """One CSV import of fans, with the consent evidence that makes it lawful to text them.

    The rows land in one transaction: a batch is either `completed` (all good rows in) or not
    (nothing in), and an interrupted batch keeps its file so it can simply be run again (the
    import is an upsert, so a re-run never duplicates).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # file and evidence stored; not yet run
        RUNNING = "running", "Running"  # import_batch_run() started; stays here if the process died
        COMPLETED = "completed", "Completed"  # good rows committed; bad rows in the error report
        FAILED = "failed", "Failed"  # refused as a whole (malformed file, wrong encoding): nothing landed

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=200, blank=True)
    # Consent evidence, required: where the fans agreed and when.
    consent_source = models.CharField(
        max_length=200, help_text="Where these fans agreed to receive texts, e.g. 'Tour 2026 sign-up sheet'."
    )
    consent_date = models.DateField(help_text="The date the fans agreed.")
    default_region = models.CharField(max_length=2, default="US", help_text="Region for numbers without +country.")
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.SET_NULL, null=True, blank=True, related_name="import_batches"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_erased = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # "line,reason" CSV of the rows that were refused; downloadable from the console and the API.
    error_report = models.TextField(blank=True)
    failure = models.TextField(blank=True, help_text="Why the whole file was refused.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.original_name or 'file'})"

    @property
    def evidence(self) -> str:
        return f"import-batch:{self.pk}"


class ExportAudit(models.Model):
    """Who exported which audience, when, with which columns and how many rows.

    Written before the first byte leaves (row_count fills in when the stream ends), so an export
    that was cut off still shows up here.
    """

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="export_audits")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    via = models.CharField(max_length=16, default="console")  # console, api, command
    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    contact_list = models.ForeignKey(ContactList, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    audience_name = models.CharField(max_length=200)  # survives the segment's or list's deletion
    columns = models.JSONField(default=list)
    file_format = models.CharField(max_length=8, default="csv")
    for_partner = models.BooleanField(default=False)
    # Which of the talent's named partners (consent.Partner) the file is for (issue 15): picked on
    # every partner export; the name survives the partner's deletion.
    partner = models.ForeignKey(
        "consent.Partner", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    partner_name = models.CharField(max_length=120, blank=True)
    # "reachable" (active fans) or "opted_out" (a suppression list), see exports.EXPORT_AUDIENCES.
    audience = models.CharField(max_length=16, default="reachable")
    # Why opted-out fans were exported: required for that audience, shown in the export log.
    purpose = models.CharField(max_length=200, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    completed = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Export of {self.audience_name} ({self.row_count if self.row_count is not None else '?'} rows)"
