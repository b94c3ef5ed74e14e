"""Console pages: the talent's settings (its form, with the signup form's choices) and its team and
partners shown inline."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models
from django.utils.html import format_html_join
from unfold.admin import TabularInline
from unfold.widgets import UnfoldAdminSelectWidget

from accounts import profile, pumping
from accounts.actors import allows
from accounts.admin_scoping import OneEditRule, TalentScopedAdmin
from accounts.models import SENDER_TAKEN, SERVICE_TAKEN, Talent, TeamMember
from consent.models import Partner


class TeamMemberInline(OneEditRule, TabularInline):
    """Read-only here: the team changes through the Team pages (invite, role, remove), which audit."""

    model = TeamMember
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    show_change_link = True


class PartnerInline(OneEditRule, TabularInline):
    """The talent's named partners (issue 15): listed on its privacy page and at signup."""

    model = Partner
    extra = 0
    fields = ["name", "purpose", "website", "is_active"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a bare domain means https

    def may_edit(self, request, obj=None) -> bool:
        return allows(request.user, "edit_talent", obj.pk if obj is not None else None)

    def has_view_permission(self, request, obj=None) -> bool:
        return allows(request.user, "view", obj.pk if obj is not None else None)


class TalentForm(forms.ModelForm):
    """The talent's page, with the signup form's fields as one choice each (Talent.signup_fields)."""

    # One choice per profile field, declared on the class (the admin's fieldsets name them).
    locals().update(
        {
            f"ask_{spec.name}": forms.ChoiceField(
                label=spec.label,
                choices=[
                    c
                    for c in profile.ASK_CHOICES
                    if spec.name not in profile.LOCKED or c[0] == profile.LOCKED[spec.name]
                ],
                help_text=f'Fans read: "{spec.why}"'
                + (" Always required: the minimum age needs it." if spec.name in profile.LOCKED else ""),
                widget=UnfoldAdminSelectWidget,
            )
            for spec in profile.PROFILE
        }
    )

    class Meta:
        model = Talent
        exclude = ["signup_fields"]  # noqa: DJ006 - the fieldsets pick the fields; this one is the ask_* choices

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        chosen = self.instance.signup_fields if self.instance.pk else {}
        for spec in profile.PROFILE:
            if f"ask_{spec.name}" in self.fields:
                self.fields[f"ask_{spec.name}"].initial = profile.ask_of(chosen, spec)

    def save(self, commit=True):
        self.instance.signup_fields = {
            spec.name: self.cleaned_data[f"ask_{spec.name}"]
            for spec in profile.PROFILE
            if self.cleaned_data.get(f"ask_{spec.name}")
        }
        return super().save(commit)

    def clean(self):
        data = super().clean()
        chosen = {spec.name: data.get(f"ask_{spec.name}") for spec in profile.PROFILE if data.get(f"ask_{spec.name}")}
        for error in profile.signup_fields_errors(chosen):
            self.add_error(None, error)
        return data

    # A sender belongs to one talent (issue 15): a number or Messaging Service another talent
    # uses is refused on its own field, before the database constraint would answer with a 500.
    # Another talent's pool counts too (Settings > Senders, issue 17): inbound routing reads both.
    def _sender_unique(self, field: str, message: str):
        from messaging.console.senders import taken_by_another_talent

        value = self.cleaned_data.get(field)
        if not value:
            return value
        address = {"phone_number": str(value)} if field == "sender_number" else {"messaging_service_sid": value}
        if taken_by_another_talent(talent_id=self.instance.pk, **address):
            raise forms.ValidationError(message)
        return value

    def clean_sender_number(self):
        return self._sender_unique("sender_number", SENDER_TAKEN)

    def clean_messaging_service_sid(self):
        return self._sender_unique("messaging_service_sid", SERVICE_TAKEN)


@admin.register(Talent)
class TalentAdmin(TalentScopedAdmin):
    form = TalentForm
    talent_lookup = ""  # the row is the talent itself
    edit_capability = "edit_talent"
    add_label, save_label = "Create talent", "Save settings"
    list_display = ["display_name", "slug", "program_name", "sender_number", "parts_per_second", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["display_name", "slug", "program_name"]
    prepopulated_fields = {"slug": ["display_name"]}
    form = TalentForm
    inlines = [TeamMemberInline, PartnerInline]
    fieldsets = [
        (None, {"fields": ["display_name", "slug", "program_name", "brand_color", "is_active"]}),
        (
            "Sending",
            {
                "fields": [
                    "sender_number",
                    "messaging_service_sid",
                    "parts_per_second",
                    "daily_frequency_cap",
                    "approval_threshold",
                ]
            },
        ),
        (
            "Fans",
            {"fields": ["default_time_zone", "min_age", "served_countries", "quiet_hours_start", "quiet_hours_end"]},
        ),
        ("Texts", {"fields": ["message_frequency", "support_contact", "help_text", "welcome_text", "data_keyword"]}),
        (
            "Signup form: what fans are asked",
            {
                "fields": [f"ask_{spec.name}" for spec in profile.PROFILE],
                "description": "Ask only what you use. Each field shows fans why it is asked.",
            },
        ),
        (
            "Privacy: how long things are kept",
            {
                "fields": ["keep_message_bodies_days", "keep_inbound_media_days", "keep_import_reports_days"],
                "description": "Stated on your public privacy page. Counts, statuses and consent records are kept.",
            },
        ),
        (
            "Security",
            {
                "fields": [
                    "home_texts_per_hour",
                    "abroad_texts_per_hour",
                    "signup_texts_this_hour",
                    "requires_two_factor",
                ]
            },
        ),
    ]
    readonly_fields = ["signup_texts_this_hour"]

    @admin.display(description="Signup texts this hour")
    def signup_texts_this_hour(self, obj):
        """The SMS pumping guard's counters (accounts/pumping.py), so the team sees a cap coming."""
        if obj is None or not obj.pk:
            return "-"
        rows = pumping.usage(obj)
        if not rows:
            return "No country served yet."
        return format_html_join(", ", "{}: {} of {}", ((c, f"{n:,}", f"{cap:,}") for c, n, cap in rows))

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser  # a new tenant is an operator's decision

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser
