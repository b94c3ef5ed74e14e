"""Contact lists and tags: their pages, a list edited from a CSV of numbers, and the Fans changelist's
actions that add fans to a list or tag them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import Talent
from messaging.audience import list_csv
from messaging.audience import services as audience
from messaging.audience.admin.common import render_form
from messaging.audience.admin.exports import export_view
from messaging.audience.imports import ImportRefused
from messaging.models import ContactList, Tag


# --- contact lists -------------------------------------------------------------------------------------------
class ListCsvForm(forms.Form):
    file = forms.FileField(help_text="A CSV with a phone column (or just one number per line), UTF-8.")
    mode = forms.ChoiceField(choices=[("add", "Add these fans to the list"), ("remove", "Remove them from the list")])
    default_region = forms.CharField(
        max_length=2, initial="US", help_text="Country of numbers written without +country code."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        from django.conf import settings

        if upload.size > settings.AUDIENCE_IMPORT_MAX_BYTES:
            raise ValidationError(f"The file is larger than {settings.AUDIENCE_IMPORT_MAX_BYTES:,} bytes.")
        return upload


@admin.register(ContactList)
class ContactListAdmin(TalentScopedAdmin):
    add_label, save_label = "Create list", "Save list"
    list_display = ["name", "talent", "member_count", "created_at", "tools"]
    list_select_related = ["talent"]
    search_fields = ["name"]
    exclude = ["fans"]
    readonly_fields = ["member_count", "tools"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_members=Count("memberships"))

    @admin.display(description="Fans")
    def member_count(self, obj):
        count = getattr(obj, "_members", None)
        if count is None:
            count = obj.memberships.count()
        if not obj.pk:
            return count
        # The members are one click away: the Fans page filtered by this list.
        url = reverse("admin:accounts_fan_changelist") + f"?list={obj.pk}"
        return format_html('<a href="{}">{} fans</a>', url, f"{count:,}")

    @admin.display(description="Tools")
    def tools(self, obj):
        if obj is None or not obj.pk:
            return "-"
        return format_html(
            '<a href="{}">Add or remove fans from a CSV…</a> · <a href="{}">Export…</a>',
            reverse("admin:messaging_contactlist_upload", args=[obj.pk]),
            reverse("admin:messaging_contactlist_export", args=[obj.pk]),
        )

    def delete_model(self, request, obj):
        audience.contact_list_delete(contact_list=obj, actor=request.user)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/upload/", wrap(self.upload_view), name="messaging_contactlist_upload"),
            path("<path:object_id>/export/", wrap(self.export_view), name="messaging_contactlist_export"),
            *super().get_urls(),
        ]

    def export_view(self, request, object_id):
        return export_view(self, request, contact_list=self.get_object(request, object_id))

    def upload_view(self, request, object_id):
        contact_list = self.get_object(request, object_id)
        if not self.has_change_permission(request, contact_list):
            raise PermissionDenied
        form = ListCsvForm(request.POST or None, request.FILES or None)
        result_lines = []
        if request.method == "POST" and form.is_valid():
            try:
                result = list_csv.contact_list_update_from_csv(
                    contact_list=contact_list,
                    file=form.cleaned_data["file"],
                    remove=form.cleaned_data["mode"] == "remove",
                    default_region=form.cleaned_data["default_region"],
                    actor=request.user,
                )
            except ImportRefused as exc:
                form.add_error("file", f"Nothing changed: {exc}.")
            else:
                verb = "removed from" if form.cleaned_data["mode"] == "remove" else "added to"
                result_lines.append(f"{result.matched} numbers matched fans; {result.changed} {verb} the list.")
                result_lines += [f"Line {line}: {reason}" for line, reason in result.errors[:200]]
                if len(result.errors) > 200:
                    result_lines.append(f"… and {len(result.errors) - 200} more lines not matched.")
        return render_form(
            request,
            self,
            "Add or remove fans from a CSV",
            form,
            submit="Upload",
            original=contact_list,
            result_lines=result_lines,
        )


# --- fan changelist actions (registered on accounts.admin.FanAdmin) --------------------------------------------
class ListActionForm(forms.Form):
    contact_list = forms.ModelChoiceField(queryset=ContactList.objects.none(), required=False, label="Contact list")
    new_list = forms.CharField(required=False, max_length=120, label="…or a new list named")

    def __init__(self, *args, talent: Talent, remove: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.talent = talent
        self.fields["contact_list"].queryset = ContactList.objects.filter(talent=talent)
        if remove:
            del self.fields["new_list"]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("contact_list") and not cleaned.get("new_list"):
            raise ValidationError("Choose a list (or name a new one).")
        return cleaned


def _single_talent(request, queryset) -> Talent | None:
    talent_ids = list(queryset.order_by().values_list("talent_id", flat=True).distinct()[:2])
    if len(talent_ids) != 1:
        messages.error(request, "Select fans of one talent at a time.")
        return None
    return Talent.objects.get(pk=talent_ids[0])


def _hidden_selection(request) -> list[tuple[str, str]]:
    pairs = [("action", request.POST["action"]), ("select_across", request.POST.get("select_across", "0"))]
    if request.POST.get("select_across") != "1":
        pairs += [
            (admin.helpers.ACTION_CHECKBOX_NAME, pk) for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        ]
    return pairs


def _list_action(modeladmin, request, queryset, *, remove: bool):
    talent = _single_talent(request, queryset)
    if talent is None:
        return None
    form = ListActionForm(request.POST if "_apply" in request.POST else None, talent=talent, remove=remove)
    if form.is_valid():
        contact_list = form.cleaned_data["contact_list"]
        if contact_list is None:
            contact_list, _ = ContactList.objects.get_or_create(
                talent=talent, name=form.cleaned_data["new_list"].strip()
            )
        if remove:
            n = audience.contact_list_remove_fans(contact_list=contact_list, fans=queryset, actor=request.user)
            messages.success(request, f"Removed {n} fans from {contact_list}.")
        else:
            n = audience.contact_list_add_fans(contact_list=contact_list, fans=queryset, actor=request.user)
            messages.success(request, f"Added {n} fans to {contact_list} (the others were already in it).")
        return None
    return render_form(
        request,
        modeladmin,
        ("Remove selected fans from a list" if remove else "Add selected fans to a list"),
        form,
        submit="Remove" if remove else "Add",
        hidden_pairs=[*_hidden_selection(request), ("_apply", "1")],
    )


@admin.action(description="Add selected fans to a contact list…", permissions=["change"])
def add_to_contact_list(modeladmin, request, queryset):
    return _list_action(modeladmin, request, queryset, remove=False)


@admin.action(description="Remove selected fans from a contact list…", permissions=["change"])
def remove_from_contact_list(modeladmin, request, queryset):
    return _list_action(modeladmin, request, queryset, remove=True)


class TagActionForm(forms.Form):
    tag = forms.CharField(max_length=60, help_text="An existing tag, or a new one.")


@admin.action(description="Tag selected fans…", permissions=["change"])
def tag_fans(modeladmin, request, queryset):
    talent = _single_talent(request, queryset)
    if talent is None:
        return None
    form = TagActionForm(request.POST if "_apply" in request.POST else None)
    if form.is_valid():
        try:
            n = audience.fan_tags_add(
                talent=talent, tag_name=form.cleaned_data["tag"], fans=queryset, actor=request.user
            )
        except audience.AudienceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Tagged {n} fans with {form.cleaned_data['tag']!r}.")
        return None
    return render_form(
        request,
        modeladmin,
        "Tag selected fans",
        form,
        submit="Tag",
        hidden_pairs=[*_hidden_selection(request), ("_apply", "1")],
    )


FAN_ACTIONS = [add_to_contact_list, remove_from_contact_list, tag_fans]


@admin.register(Tag)
class TagAdmin(TalentScopedAdmin):
    save_and_add_another = True  # a few tags are often made in a row
    list_display = ["name", "talent", "fan_count", "created_at"]
    list_select_related = ["talent"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_fans=Count("fan_tags"))

    @admin.display(description="Fans")
    def fan_count(self, obj):
        url = reverse("admin:accounts_fan_changelist") + f"?tag={obj.pk}"
        return format_html('<a href="{}">{} fans</a>', url, f"{getattr(obj, '_fans', 0):,}")


# --- imports --------------------------------------------------------------------------------------------------
