"""Console pages: the Team (members and their roles, invites). Owners invite, change roles and remove
members; accounts/team.py does each change and audits it."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.widgets import UnfoldAdminEmailInputWidget, UnfoldAdminRadioSelectWidget, UnfoldAdminSelectWidget

from accounts import current_talent, team
from accounts.actors import NotAllowed
from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import Invite, Talent, TeamMember


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
