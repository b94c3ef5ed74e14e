"""Console pages for API tokens and outgoing webhooks (issue 16). Owners only: a token or an
endpoint sends the talent's fans' data out of the building.

Registered from accounts/admin.py (the models live in accounts). Thin: each button calls a service.
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.admin import TabularInline

from accounts import current_talent
from accounts.admin_scoping import TalentScopedAdmin
from accounts.api_tokens import SCOPES, ApiToken, TokenError, token_create, token_revoke
from accounts.outbox import (
    CATALOGUE,
    WebhookDelivery,
    WebhookEndpoint,
    webhook_ping,
)
from accounts.webhook_delivery import delivery_resend
from fancommunity.webhooks_out.endpoints import (
    EndpointError,
    default_events,
    endpoint_create,
    endpoint_rotate,
    endpoint_update,
    url_problem,
)

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. 'Ticketing system'.")
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple, help_text="Give only what it needs."
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", required=False, label="Expires after")


def _page(request, modeladmin, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {**modeladmin.admin_site.each_context(request), "opts": modeladmin.model._meta, "title": title, **context},
    )


class OwnerOnlyAdmin(TalentScopedAdmin):
    view_capability = "manage_team"
    edit_capability = "manage_team"


class ApiTokenAdmin(OwnerOnlyAdmin):
    list_display = [
        "name",
        "shown_prefix",
        "scope_list",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "state",
    ]
    readonly_fields = [
        "talent",
        "name",
        "shown_prefix",
        "scopes",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = readonly_fields
    actions = ["revoke"]

    @admin.display(description="Token")
    def shown_prefix(self, obj):
        return f"fc_live_{obj.hint}…"

    @admin.display(description="Scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="State")
    def state(self, obj):
        if obj.revoked_at:
            return "Revoked"
        return "Expired" if not obj.is_usable else "Active"

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a token never changes: revoke it and create another

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked rows stay, with their audit trail

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        talent = current_talent.current(request)
        form = TokenForm(request.POST or None)
        if talent is None:
            messages.error(request, "Pick a talent in the header first: a token belongs to one talent.")
        elif request.method == "POST" and form.is_valid():
            days = form.cleaned_data["expires_in"]
            expires = timezone.now() + dt.timedelta(days=int(days)) if days else None
            try:
                token, raw = token_create(
                    talent=talent,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=expires,
                )
            except TokenError as exc:
                form.add_error(None, str(exc))
            else:
                # Rendered here, never put in a message: the message store may be a cookie.
                response = _page(
                    request, self, "admin/api_v1/token_created.html", "Token created", token=token, raw=raw
                )
                response["Cache-Control"] = "no-store"
                return response
        return _page(
            request, self, "admin/api_v1/form.html", "Create an API token", form=form, submit_label="Create token"
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        done = sum(token_revoke(token=t, actor=request.user) for t in queryset)
        messages.success(request, f"Revoked {done} token(s). Scripts using them now get 401.")


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="An HTTPS address of your server that accepts POSTs."
    )
    events = forms.MultipleChoiceField(
        choices=[(e.name, f"{e.name}{' (opt-in: high volume)' if e.opt_in_only else ''}") for e in CATALOGUE.values()],
        widget=forms.CheckboxSelectMultiple,
        initial=default_events(),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["talent", "url", "description", "events", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problem = url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        link = reverse("admin:accounts_webhookendpoint_catalogue")
        self.fields["events"].help_text = format_html(
            'What each event carries: <a href="{}">the event catalogue</a>.', link
        )


class DeliveryInline(TabularInline):
    model = WebhookDelivery
    extra = 0
    max_num = 0
    fields = [
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_latency_ms",
        "next_attempt_at",
        "last_error",
    ]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "Latest deliveries (all of them under Webhook deliveries)"

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("event")
        ids = list(qs.order_by("-pk").values_list("pk", flat=True)[:20])
        return qs.filter(pk__in=ids)

    @admin.display(description="Event")
    def event_type(self, obj):
        return obj.event.type


class WebhookEndpointAdmin(OwnerOnlyAdmin):
    form = EndpointForm
    list_display = ["url", "description", "event_list", "is_active", "failing_since", "disabled_reason"]
    readonly_fields = ["signing_secret", "failing_since", "disabled_reason", "created_by", "created_at"]
    inlines = [DeliveryInline]
    actions = ["send_ping", "rotate_secret"]

    @admin.display(description="Events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="Signing secret")
    def signing_secret(self, obj):
        if not obj.pk:
            return "Made when you save."
        extra = f" (the previous one also signs until {obj.previous_secret_until})" if obj.previous_secret else ""
        return format_html("<code>{}</code>{}", obj.secret, extra)

    def save_model(self, request, obj, form, change):
        # Through the same services as API v1 (fancommunity/webhooks_out/endpoints.py); the form
        # has checked the URL and events already, and the page is owners-only.
        try:
            if change:
                changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
                saved = endpoint_update(
                    endpoint=WebhookEndpoint.objects.get(pk=obj.pk), actor=request.user, changes=changes
                )
            else:
                saved, _secret = endpoint_create(
                    talent=obj.talent, actor=request.user, url=obj.url, description=obj.description,
                    events=obj.events, is_active=obj.is_active,
                )  # fmt: skip
        except (EndpointError, PermissionError) as exc:
            raise PermissionDenied(str(exc)) from exc
        # The admin goes on with `obj` (its log entry, the redirect): it becomes the saved row.
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def get_urls(self):
        return [
            path(
                "events/",
                self.admin_site.admin_view(self.catalogue_view),
                name="accounts_webhookendpoint_catalogue",
            ),
            *super().get_urls(),
        ]

    def catalogue_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        events = [
            {
                "event": e,
                "sample": json.dumps({"type": e.name, "timestamp": "2026-11-30T18:02:11Z", "data": e.sample}, indent=2),
            }
            for e in CATALOGUE.values()
        ]
        return _page(request, self, "admin/api_v1/catalogue.html", "Webhook events", events=events)

    @admin.action(description="Send a test ping")
    def send_ping(self, request, queryset):
        for endpoint in queryset:
            webhook_ping(endpoint=endpoint)
        messages.success(request, "Test ping queued; see the endpoint's deliveries for the answer.")

    @admin.action(description="Rotate the signing secret (the old one keeps working for 24 hours)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            endpoint_rotate(endpoint=endpoint, actor=request.user)
        messages.success(request, "New secret made. Update your receiver within 24 hours.")


class WebhookDeliveryAdmin(OwnerOnlyAdmin):
    talent_lookup = "endpoint__talent"
    list_display = [
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "latency",
        "next_retry",
        "last_error",
    ]
    list_filter = ["status"]
    list_select_related = ["event", "endpoint"]
    readonly_fields = ["endpoint", "event_type", "event_id", "status", "attempts", "last_attempt_at", "last_status_code",
                       "last_latency_ms", "next_attempt_at", "delivered_at", "last_error", "payload"]  # fmt: skip
    fields = readonly_fields
    actions = ["send_again"]

    @admin.display(description="Event")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="webhook-id")
    def event_id(self, obj):
        return obj.event.event_id

    @admin.display(description="Latency")
    def latency(self, obj):
        return f"{obj.last_latency_ms} ms" if obj.last_latency_ms is not None else "-"

    @admin.display(description="Next retry (UTC)")
    def next_retry(self, obj):
        return (
            obj.next_attempt_at.strftime("%Y-%m-%d %H:%M UTC") if obj.status == WebhookDelivery.Status.PENDING else "-"
        )

    @admin.display(description="Body sent")
    def payload(self, obj):
        return format_html("<pre>{}</pre>", obj.event.body().decode())

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self._allowed(request, "manage_team"):
            return actions
        return {}

    @admin.action(description="Send again", permissions=["view"])
    def send_again(self, request, queryset):
        for delivery in queryset.select_related("endpoint"):
            delivery_resend(delivery=delivery, actor=request.user)
        messages.success(request, "Queued again, with the same webhook-id (receivers deduplicate on it).")


def register(site) -> None:
    site.register(ApiToken, ApiTokenAdmin)
    site.register(WebhookEndpoint, WebhookEndpointAdmin)
    site.register(WebhookDelivery, WebhookDeliveryAdmin)
