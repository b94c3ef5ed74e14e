"""The console's Senders page (Settings > Senders, issue 17): the talent's numbers and Messaging
Services, each with its type and the limits that follow, today's daily-cap figures, and whether
the talent looks up its fans' carriers, and each 10DLC sender's registration at Twilio."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from unfold.decorators import display

from accounts.admin_scoping import TalentScopedAdmin
from messaging.sending.models import Sender, SenderPool
from messaging.sending.plan import sender_day
from messaging.sending.registration import check_registrations, registration_line
from messaging.sending.senders import CARRIER_NAMES, sender_rates


class SenderForm(forms.ModelForm):
    lookup_carriers = forms.BooleanField(
        label="Look up fans' carriers",
        required=False,
        help_text=SenderPool._meta.get_field("lookup_carriers").help_text
        + " This applies to all of the talent's senders.",
    )

    class Meta:
        model = Sender
        fields = [
            "talent",
            "kind",
            "phone_number",
            "messaging_service_sid",
            "trust_score",
            "brand",
            "tmobile_daily_cap",
            "rate_overrides",
            "position",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        talent_id = self.instance.talent_id or self.initial.get("talent")
        if talent_id:
            self.fields["lookup_carriers"].initial = SenderPool.objects.filter(
                talent_id=talent_id, lookup_carriers=True
            ).exists()


@admin.register(Sender)
class SenderAdmin(TalentScopedAdmin):
    form = SenderForm
    edit_capability = "edit_talent"  # the talent's numbers and what they cost: owners
    list_display = ["address", "kind", "limits", "today", "registration", "lookups", "talent"]
    list_display_links = ["address"]
    actions = ["check_registration"]
    readonly_fields = ["registration"]
    fieldsets = [
        (None, {"fields": ["talent", "kind", "phone_number", "messaging_service_sid", "position"]}),
        ("10DLC", {"fields": ["trust_score", "brand", "tmobile_daily_cap", "registration"]}),
        ("Limits", {"fields": ["rate_overrides", "lookup_carriers"]}),
    ]

    @display(description="Number or service")
    def address(self, obj: Sender) -> str:
        return obj.phone_number or obj.messaging_service_sid

    @display(description="SMS parts a second")
    def limits(self, obj: Sender) -> str:
        rates = sender_rates(obj.kind, obj.trust_score, obj.rate_overrides or {})
        return ", ".join(f"{CARRIER_NAMES[c] if c != 'all' else 'All'} {r:g}" for c, r in rates.items())

    @display(description="Today")
    def today(self, obj: Sender) -> str:
        return sender_day(obj, now=timezone.now())

    @display(description="10DLC registration")
    def registration(self, obj: Sender) -> str:
        return registration_line(obj) if obj.pk else "Checked once saved"

    @admin.action(description="Check 10DLC registration at Twilio now", permissions=["change"])
    def check_registration(self, request, queryset):
        # Thin: the check and what it stores live in messaging/sending/registration.py.
        report = check_registrations(senders=queryset)
        for error in report.errors:
            self.message_user(request, f"Twilio could not be asked: {error}", messages.ERROR)
        if report.checked:
            waiting = f"; {report.held_back} not approved, left out of sending" if report.held_back else ""
            self.message_user(request, f"Checked {report.checked} sender(s){waiting}.", messages.SUCCESS)
        elif not report.errors:
            self.message_user(
                request, "Nothing to check: only 10DLC senders with a Messaging Service SID have a campaign at Twilio."
            )

    @display(description="Carrier lookups", boolean=True)
    def lookups(self, obj: Sender) -> bool:
        return SenderPool.objects.filter(talent_id=obj.talent_id, lookup_carriers=True).exists()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        SenderPool.objects.update_or_create(
            talent_id=obj.talent_id, defaults={"lookup_carriers": form.cleaned_data.get("lookup_carriers", False)}
        )
