"""Console pages of drops (issue 14 §3): the form, the codes upload, the box office's export,
pause and resume, "play as a fan". Thin: the rules live in messaging/automations/drops.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts import permissions
from accounts.models import Fan
from messaging.automations import drops
from messaging.automations.drop_models import Drop
from messaging.automations.keyword_admin import AutomationAdmin

MAX_UPLOAD = 20 * 1024 * 1024


class DropForm(forms.ModelForm):
    class Meta:
        model = Drop
        fields = [
            "talent",
            "name",
            "confirmation",
            "release_text",
            "release_at",
            "release_zone",
            "made_it",
            "capacity",
            "waitlist",
            "full_text",
            "fallback_text",
        ]
        labels = {"made_it": '"You made it" text', "fallback_text": "When the codes run out"}
        help_texts = {
            "release_text": "The one release message, sent at the release time to every entrant. {code} puts "
            "the fan's code in it (filled as it leaves, never stored); fans the codes did not reach get it "
            "without one."
        }
        widgets = {"release_zone": forms.RadioSelect}

    def clean(self):
        data = super().clean()
        if data.get("release_text"):
            try:
                drops.drop_texts_clean(release_text=data["release_text"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        self.add_error(field, error)
        release_at = data.get("release_at")
        if release_at and self.instance.pk is None and release_at <= timezone.now():
            self.add_error("release_at", "Pick a release time in the future.")
        if data.get("capacity") is not None and data["capacity"] < 1:
            self.add_error("capacity", "A capacity is at least 1 fan; leave it empty for no limit.")
        if data.get("waitlist") and data.get("capacity") is None:
            self.add_error("waitlist", "A waitlist needs a capacity.")
        return data


@admin.register(Drop)
class DropAdmin(AutomationAdmin):
    form = DropForm
    change_form_template = "admin/automations/drop_change_form.html"
    list_display = ["name", "release_at", "state", "entrants", "talent"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["talent", "name", "confirmation"]}),
        ("The release", {"fields": ["release_text", "release_at", "release_zone", "made_it"]}),
        ("Places and codes", {"fields": ["capacity", "waitlist", "full_text", "fallback_text"]}),
    ]

    @admin.display(description="Now")
    def state(self, obj: Drop) -> str:
        if obj.is_paused:
            return "Paused"
        campaign = obj.campaign
        if campaign is not None and campaign.started_at:
            return f"Released ({campaign.get_status_display().lower()})"
        return "Taking entries"

    @admin.display(description="Entrants")
    def entrants(self, obj: Drop) -> str:
        counts = drops.drop_counts(drop=obj)
        return f"{counts['entered']:,}" + (f" (+{counts['waitlisted']:,} waiting)" if counts["waitlisted"] else "")

    def save_model(self, request, obj, form, change):
        drops.drop_save(drop=obj, actor=request.user)  # the form already ran the same checks

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/codes/", wrap(self.codes_view), name="messaging_drop_codes"),
            path("<int:object_id>/codes.csv", wrap(self.codes_export_view), name="messaging_drop_codes_export"),
            path("<int:object_id>/pause/", wrap(self.pause_view), name="messaging_drop_pause"),
            *super().get_urls(),
        ]

    def panel_context(self, request, obj: Drop) -> dict:
        sample = Fan(talent=obj.talent, status=Fan.Status.ACTIVE, first_name="Alex")
        return {
            "play": drops.drop_preview(drop=obj, fan=sample),
            "counts": drops.drop_counts(drop=obj),
            "codes_total": obj.codes.count(),
            "codes_given": obj.codes.filter(fan__isnull=False).count(),
            "can_compose": permissions.can(request.user, "compose", obj.talent_id),
            "can_export": permissions.can(request.user, "export", obj.talent_id),
            "keywords": list(obj.keywords.all()),
        }

    def _back(self, obj: Drop) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:messaging_drop_change", args=[obj.pk]))

    def codes_view(self, request, object_id: int):
        if request.method != "POST":
            raise Http404
        obj = self._obj(request, object_id, "compose")
        upload = request.FILES.get("codes")
        if upload is None:
            self.message_user(request, "Choose a CSV file of codes to upload.", messages.ERROR)
        elif upload.size > MAX_UPLOAD:
            self.message_user(request, "That file is over 20 MB: split it and upload the parts.", messages.ERROR)
        else:
            try:
                result = drops.drop_codes_upload(drop=obj, data=upload.read(), actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(
                    request, f"{result['added']} codes added ({result['duplicates']} already there).", messages.SUCCESS
                )
        return self._back(obj)

    def codes_export_view(self, request, object_id: int):
        obj = self._obj(request, object_id, "export")
        lines = drops.drop_codes_export(drop=obj, actor=request.user)
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="drop-{obj.pk}-codes.csv"'
        return response

    def pause_view(self, request, object_id: int):
        if request.method != "POST":
            raise Http404
        obj = self._obj(request, object_id, "compose")
        paused = request.POST.get("paused") == "1"
        drops.drop_set_paused(drop=obj, paused=paused, actor=request.user)
        self.message_user(request, "Drop paused: no one joins and the release waits." if paused else "Drop resumed.")
        return self._back(obj)
