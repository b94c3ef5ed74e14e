"""Console pages of keyword automations (issue 14 §1): the list, the form, share link and QR code,
"play as a fan" and "send to me". Thin: every rule lives in messaging/automations/keywords.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from accounts import permissions
from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import Talent
from messaging.automations import keywords
from messaging.automations.keyword_models import Keyword
from messaging.campaigns.admin.composer import in_talent_zone
from messaging.campaigns.admin.composer import talent_zone as _talent_zone

TEST_PHONE_KEY = "campaign_test_phone"  # the number the team member last sent a test to (campaigns too)


class KeywordForm(forms.ModelForm):
    class Meta:
        model = Keyword
        fields = [
            "talent",
            "word",
            "aliases",
            "reply",
            "add_to_list",
            "tags",
            "drop",
            "starts_at",
            "ends_at",
            "capacity",
            "full_reply",
            "is_paused",
        ]
        labels = {"is_paused": "Paused", "add_to_list": "Add to list", "full_reply": "Reply when full"}
        # Plain checkboxes: the admin's two-box picker fails axe (aria-label on a bare span).
        widgets = {"tags": forms.CheckboxSelectMultiple}

    def clean(self):
        data = super().clean()
        talent = data.get("talent") or (self.instance.talent if self.instance.talent_id else None)
        if not isinstance(talent, Talent) or not data.get("word"):
            return data
        try:
            words = keywords.keyword_words_clean(
                talent=talent, word=data["word"], aliases=data.get("aliases", ""), keyword_id=self.instance.pk
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    self.add_error(field, error)
            return data
        data["word"], data["aliases"] = words[0], ", ".join(words[1:])
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The end must come after the start.")
        if data.get("capacity") is not None and data["capacity"] < 1:
            self.add_error("capacity", "A capacity is at least 1 fan; leave it empty for no limit.")
        if not any(data.get(k) for k in ("reply", "add_to_list", "tags", "drop")):
            self.add_error(None, "Give the keyword something to do: a reply, a list, tags or a drop.")
        return data


class AutomationAdmin(TalentScopedAdmin):
    """What the keyword and drop pages share: objects checked per capability (other talents' 404),
    and the change form shown and parsed in the talent's time zone, as campaigns are."""

    edit_capability = "compose"

    def _obj(self, request, object_id: int, capability: str):
        obj = self.get_object(request, str(object_id))  # another talent's object: 404
        if not permissions.can(request.user, capability, obj.talent_id):
            raise PermissionDenied
        return obj

    def panel_context(self, request, obj) -> dict:
        return {}

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, object_id) if object_id else None
        if obj is not None:
            extra_context.update(self.panel_context(request, obj))
        zone = _talent_zone(request, obj)
        view = super().changeform_view
        return in_talent_zone(zone, extra_context, lambda context: view(request, object_id, form_url, context))


@admin.register(Keyword)
class KeywordAdmin(AutomationAdmin):
    form = KeywordForm
    change_form_template = "admin/automations/keyword_change_form.html"
    list_display = ["keyword", "reply", "state", "uses_count", "joins_count", "places", "talent"]
    search_fields = ["word", "aliases"]
    actions = ["pause", "resume"]
    fieldsets = [
        (None, {"fields": ["talent", "word", "aliases", "reply"]}),
        ("What it does", {"fields": ["add_to_list", "tags", "drop"]}),
        ("When and how many", {"fields": ["starts_at", "ends_at", "capacity", "full_reply", "is_paused"]}),
    ]

    @admin.display(description="Keyword", ordering="word")
    def keyword(self, obj: Keyword) -> str:
        return str(obj)

    @admin.display(description="Places taken")
    def places(self, obj: Keyword) -> str:
        return f"{obj.entrants_count} of {obj.capacity}" if obj.capacity is not None else "no limit"

    @admin.display(description="Now")
    def state(self, obj: Keyword) -> str:
        return obj.state().replace("_", " ").capitalize()

    @admin.action(description="Pause the selected keywords")
    def pause(self, request, queryset):
        count = self.scope(request, queryset, "compose").update(is_paused=True)
        self.message_user(request, f"{count} keyword(s) paused: texts with them now reach the inbox.")

    @admin.action(description="Resume the selected keywords")
    def resume(self, request, queryset):
        count = self.scope(request, queryset, "compose").update(is_paused=False)
        self.message_user(request, f"{count} keyword(s) live again.")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/send-to-me/", wrap(self.send_to_me_view), name="messaging_keyword_send_to_me"),
            *super().get_urls(),
        ]

    def panel_context(self, request, obj: Keyword) -> dict:
        link = keywords.share_link(obj)
        return {
            "share_link": link,
            # segno writes the SVG itself from the link (no user markup reaches it).
            "qr_svg": mark_safe(keywords.qr_svg(link)) if link else "",  # noqa: S308
            "play": keywords.keyword_play(keyword=obj),
            "test_phone": request.session.get(TEST_PHONE_KEY, ""),
            "can_test": permissions.can(request.user, "compose", obj.talent_id),
        }

    def send_to_me_view(self, request, object_id: int):
        if request.method != "POST":
            raise Http404
        obj = self._obj(request, object_id, "compose")
        phone = request.POST.get("phone", "").strip() or request.session.get(TEST_PHONE_KEY, "")
        try:
            sent_to = keywords.keyword_send_to_me(keyword=obj, to_number=phone, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            request.session[TEST_PHONE_KEY] = sent_to
            self.message_user(request, f"Test text sent to {sent_to}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:messaging_keyword_change", args=[obj.pk]))
