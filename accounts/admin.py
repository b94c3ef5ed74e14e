"""Console pages for talents, their team, their fans and the audit trail."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import TabularInline
from unfold.widgets import UnfoldAdminEmailInputWidget, UnfoldAdminRadioSelectWidget, UnfoldAdminSelectWidget

from accounts import current_talent, profile, pumping, team
from accounts.actors import NotAllowed, allows
from accounts.admin_scoping import ReadOnlyAdmin, TalentScopedAdmin
from accounts.models import FAN_RECORD_FIELDS, SENDER_TAKEN, SERVICE_TAKEN, AuditEvent, Fan, Invite, Talent, TeamMember
from consent import texts
from consent.models import ConsentRecord, Partner
from consent.services import Evidence, fan_hold_release, fan_opt_out
from messaging.audience.admin import fans as audience_fans
from messaging.audience.admin import lists as audience_lists
from messaging.conversations.priority import priority_message_queue
from messaging.sms.models import OutboundMessage


class TeamMemberInline(TabularInline):
    """Read-only here: the team changes through the Team pages (invite, role, remove), which audit."""

    model = TeamMember
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PartnerInline(TabularInline):
    """The talent's named partners (issue 15): listed on its privacy page and at signup."""

    model = Partner
    extra = 0
    fields = ["name", "purpose", "website", "is_active"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a bare domain means https

    def _may(self, request, obj) -> bool:
        return allows(request.user, "edit_talent", obj.pk if obj is not None else None)

    def has_view_permission(self, request, obj=None) -> bool:
        return allows(request.user, "view", obj.pk if obj is not None else None)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._may(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may(request, obj)


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


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address", help_text="The invite link is mailed here.", widget=UnfoldAdminEmailInputWidget
    )
    role = forms.ChoiceField(
        choices=TeamMember.Role.choices,
        initial=TeamMember.Role.MANAGER,
        widget=UnfoldAdminRadioSelectWidget,
        help_text="Owner: everything, the team too. Manager: campaigns, audience, inbox. "
        "Agent: the inbox. Analyst: reports and exports, no sending.",
    )
    talent = forms.ModelChoiceField(queryset=Talent.objects.none(), empty_label=None, widget=UnfoldAdminSelectWidget)

    def __init__(self, *args, talents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["talent"].queryset = talents
        self.only_talent = talents[0] if len(talents) == 1 else None
        if self.only_talent is not None:  # the usual case: no choice to offer
            self.fields["talent"].required = False
            self.fields["talent"].widget = forms.HiddenInput()

    def clean_talent(self):
        return self.cleaned_data.get("talent") or self.only_talent


class TeamMemberRoleForm(forms.ModelForm):
    class Meta:
        model = TeamMember
        fields = ["role"]
        widgets = {"role": UnfoldAdminRadioSelectWidget}

    def clean_role(self):
        role = self.cleaned_data["role"]
        if role != TeamMember.Role.OWNER and team.is_last_owner(self.instance):
            raise forms.ValidationError(
                f"{self.instance.user} is the last owner of {self.instance.talent}: make someone else owner first."
            )
        return role


@admin.register(TeamMember)
class TeamMemberAdmin(TalentScopedAdmin):
    """The Team page: members and their roles. Owners invite by email, change roles and remove
    members (never the last owner); accounts/team.py does each change and audits it."""

    edit_capability = "manage_team"
    save_label = "Save role"  # only the role is editable; adding is an invite
    form = TeamMemberRoleForm
    list_display = ["user", "email", "talent", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "talent"]
    search_fields = ["user__username", "user__email"]
    readonly_fields = ["user", "email", "talent", "created_at"]
    fields = ["user", "email", "talent", "role", "created_at"]
    actions = ["remove_selected"]

    @admin.display(description="Email", ordering="user__email")
    def email(self, obj) -> str:
        return obj.user.email

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("invite/", wrap(self.invite_view), name="accounts_teammember_invite"), *super().get_urls()]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # removal goes through team.member_remove (audit, last owner)
        if current_talent.talent_ids(request, "manage_team") == set():
            actions.pop("remove_selected", None)
        return actions

    # "Add" is the invite: nobody types a user id.
    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:accounts_teammember_invite")

    def invite_view(self, request):
        changelist = reverse("admin:accounts_teammember_changelist")
        ids = current_talent.talent_ids(request, "manage_team")  # one talent at a time
        talents = Talent.objects.filter(is_active=True)
        if ids is not None:
            talents = talents.filter(pk__in=ids)
        talents = list(talents)
        if not talents:
            self.message_user(request, "Only a talent's owners can invite teammates.", messages.WARNING)
            return redirect(changelist if self.has_view_permission(request) else reverse("admin:index"))
        form = InviteForm(request.POST or None, talents=Talent.objects.filter(pk__in=[t.pk for t in talents]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Invite a teammate",
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            try:
                invite = team.invite_create(
                    talent=form.cleaned_data["talent"],
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor=request.user,
                )
            except (team.TeamError, NotAllowed) as exc:
                form.add_error(None, str(exc))
            else:
                context.update(
                    title="Invite sent",
                    invite=invite,
                    link=team.invite_url(invite),
                    mailed=team.invite_email_send(invite=invite),
                )
                return TemplateResponse(request, "accounts/team/invite_sent.html", context)
        return TemplateResponse(request, "accounts/team/invite_form.html", context)

    def save_model(self, request, obj, form, change):
        if change:  # only the role is editable (TeamMemberRoleForm)
            team.member_role_change(member=obj, role=form.cleaned_data["role"], actor=request.user)

    def get_deleted_objects(self, objs, request):
        deleted, count, perms_needed, protected = super().get_deleted_objects(objs, request)
        last = [m for m in objs if team.is_last_owner(m)]
        if last:
            protected = [f"{m.user} is the last owner of {m.talent}: make someone else owner first." for m in last]
        return deleted, count, perms_needed, protected

    def delete_model(self, request, obj):
        team.member_remove(member=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for member in queryset:
            team.member_remove(member=member, actor=request.user)

    @admin.action(description="Remove from the team")
    def remove_selected(self, request, queryset):
        removed = 0
        for member in queryset.select_related("user", "talent"):
            try:
                team.member_remove(member=member, actor=request.user)
            except (team.TeamError, NotAllowed) as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                removed += 1
        if removed:
            self.message_user(request, f"Removed {removed} from the team.", messages.SUCCESS)


@admin.register(Invite)
class InviteAdmin(TalentScopedAdmin):
    """Invites: only owners see them (a pending invite's link lets anyone holding it join)."""

    view_capability = "manage_team"
    edit_capability = "manage_team"
    list_display = ["email", "talent", "role", "status", "invited_by", "created_at", "expires_at"]
    list_filter = ["status", "role"]
    list_select_related = ["talent", "invited_by"]
    search_fields = ["email"]
    fields = ["email", "talent", "role", "status", "link", "invited_by", "accepted_by", "created_at", "expires_at"]
    readonly_fields = fields
    actions = ["revoke_selected"]

    @admin.display(description="Invite link")
    def link(self, obj) -> str:
        if team.invite_from_token(team.invite_token(obj)) is None:
            return "(no longer valid)"
        url = team.invite_url(obj)
        return format_html('<input type="text" readonly value="{}" size="60" onfocus="this.select()">', url)

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:accounts_teammember_invite")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # an invite is revoked (action) and sent anew, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Revoke (the link stops working)")
    def revoke_selected(self, request, queryset):
        revoked = 0
        for invite in queryset.select_related("talent"):
            try:
                revoked += team.invite_revoke(invite=invite, actor=request.user)
            except (team.TeamError, NotAllowed) as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"Revoked {revoked} invite{'s' if revoked != 1 else ''}.", messages.SUCCESS)


def _held(modeladmin, request, queryset):
    """The held fans among the selection that this member may decide for (the reply capability)."""
    allowed = [
        fan
        for fan in queryset.filter(status=Fan.Status.HELD).select_related("talent")
        if allows(request.user, "reply", fan.talent_id)
    ]
    skipped = queryset.count() - len(allowed)
    if skipped:
        modeladmin.message_user(
            request, f"{skipped} fan(s) skipped: not held, or not yours to decide.", messages.WARNING
        )
    return allowed


@admin.action(description="Possible opt-out: it did not mean stop (texts resume)")
def release_hold(modeladmin, request, queryset):
    done = sum(fan_hold_release(fan=fan, actor=request.user) for fan in _held(modeladmin, request, queryset))
    modeladmin.message_user(request, f"{done} fan(s) will get texts again.", messages.SUCCESS)


@admin.action(description="Possible opt-out: it meant stop (opt out, confirm by text)")
def opt_out_held(modeladmin, request, queryset):
    done = 0
    for fan in _held(modeladmin, request, queryset):
        evidence = Evidence(method=ConsentRecord.Method.CONSOLE, evidence=f"decided by user {request.user.pk}")
        with transaction.atomic():
            if fan_opt_out(fan=fan, evidence=evidence):
                done += 1
                priority_message_queue(
                    talent=fan.talent,
                    fan=fan,
                    to=str(fan.phone),
                    body=texts.opt_out_confirmation(fan.talent),
                    lane=OutboundMessage.Lane.COMPLIANCE,
                )
    modeladmin.message_user(request, f"{done} fan(s) opted out; each gets the one confirmation.", messages.SUCCESS)


@admin.register(Fan)
class FanAdmin(TalentScopedAdmin):
    """Fans: search by a number in any format, name or email; bounded filters; the profile page
    (messaging/audience/admin/fans.py builds its parts: filters, search, the add form, the profile)."""

    list_display = ["__str__", "phone", "talent", "status", "country", "region", "source", "joined_at"]
    list_filter = audience_fans.FAN_FILTERS
    list_filter_submit = True  # unfold's text filters (country, region) apply on a button, no script needed
    list_select_related = ["talent"]
    # Name and email prefixes, served on PostgreSQL by the UPPER(...) text_pattern_ops indexes
    # (accounts/migrations/0007_fan_search_indexes.py); a phone in any format is matched exactly
    # first (get_search_results).
    search_fields = ["^first_name", "^last_name", "^email"]
    search_help_text = "A phone number in any format ((415) 555-2671, 4155552671, +1 415...), a name or an email."
    show_facets = admin.ShowFacets.NEVER
    date_hierarchy = None
    change_form_template = "admin/accounts/fan/change_form.html"
    readonly_fields = list(FAN_RECORD_FIELDS)
    # No delete_selected on a million rows (erasure is a service); list and tag actions call services.
    actions = [*audience_lists.FAN_ACTIONS, release_hold, opt_out_held]

    def get_search_results(self, request, queryset, search_term):
        found = audience_fans.fan_search(request, queryset, search_term)
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    def get_readonly_fields(self, request, obj=None):
        # Consent state is evidence: changed only by services that write a ConsentRecord.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["talent", "phone"]
        return fields

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/do/<slug:action>/",
                wrap(
                    lambda request, object_id, action: audience_fans.fan_action_view(self, request, object_id, action)
                ),
                name="accounts_fan_action",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return audience_fans.fan_add_view(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        fan = self.get_object(request, object_id)
        return super().change_view(
            request, object_id, form_url, {**audience_fans.fan_profile_context(request, fan), **(extra_context or {})}
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # erasure (issue: the fan owns their data) keeps an audit row; no hard delete


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "talent", "actor", "object_type", "object_id"]
    list_filter = ["action"]
    list_select_related = ["talent", "actor"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]


# Issue 16: API tokens and outgoing-webhook pages (models in accounts, pages in their own module).
from fancommunity.webhooks_out import admin as _webhooks_out_admin  # noqa: E402

_webhooks_out_admin.register(admin.site)
