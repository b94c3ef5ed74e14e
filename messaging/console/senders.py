"""The console's Senders page (Settings > Senders, issue 17): the talent's numbers and Messaging
Services, each with its type and the limits that follow, today's daily-cap figures, and whether
the talent looks up its fans' carriers, and each 10DLC sender's registration at Twilio."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone
from unfold.decorators import display

from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import SENDER_TAKEN, SERVICE_TAKEN, Talent
from messaging.sending.models import Sender, SenderPool
from messaging.sending.plan import sender_day
from messaging.sending.registration import check_registrations, clear_unregistered, registration_line
from messaging.sending.senders import ALL, CARRIER_NAMES, OTHER, sender_rates


def taken_by_another_talent(
    *, talent_id: int | None, phone_number: str = "", messaging_service_sid: str = "", pools: bool = True
) -> bool:
    """A number or Messaging Service another talent already has, as its own sender or in its pool.

    A sender belongs to one talent (issue 15 §4): inbound texts, STOP included, are routed by the
    number or service they were sent to (conversations/inbound.py talent_for looks at the talent's
    own sender first, then the pools), so a copy in another talent's pool would send that talent's
    fans' replies to the wrong talent. The unique constraints hold within each table; this checks
    across both, for the two forms that edit them (the talent page and Settings > Senders, which
    passes pools=False: a pool's own unique constraint answers there, with its own message)."""
    if phone_number:
        own, pool = Q(sender_number=phone_number), Q(phone_number=phone_number)
    elif messaging_service_sid:
        own, pool = Q(messaging_service_sid=messaging_service_sid), Q(messaging_service_sid=messaging_service_sid)
    else:
        return False
    if Talent.objects.filter(own).exclude(pk=talent_id).exists():
        return True
    return pools and Sender.objects.filter(pool).exclude(talent_id=talent_id).exists()


# Rates per carrier as the team reads them: one number a box, empty = the type's limit. The model
# keeps them as `rate_overrides` ({"att": 75, ...}), which the page used to show as JSON to type.
RATE_FIELDS = {
    "rate_att": ("att", "AT&T"),
    "rate_tmobile": ("tmobile", "T-Mobile"),
    "rate_verizon": ("verizon", "Verizon"),
    "rate_other": (OTHER, "Other and unknown carriers"),
    "rate_all": (ALL, "All carriers"),
}
TEN_DLC_RATES = ("rate_att", "rate_tmobile", "rate_verizon", "rate_other")


def _rate_field(label: str, help_text: str) -> forms.FloatField:
    return forms.FloatField(
        label=f"{label}: SMS parts a second",
        required=False,
        min_value=0.01,
        max_value=10_000,
        help_text=help_text,
        error_messages={"invalid": "Write a number of SMS parts a second, e.g. 75."},
    )


class SenderForm(forms.ModelForm):
    rate_att = _rate_field("AT&T", "10DLC only. Empty: the trust score's rate.")
    rate_tmobile = _rate_field("T-Mobile", "10DLC only. Empty: the trust score's rate.")
    rate_verizon = _rate_field("Verizon", "10DLC only. Empty: the trust score's rate.")
    rate_other = _rate_field("Other carriers", "10DLC only. Empty: the slowest of the three above.")
    rate_all = _rate_field("All carriers", "Long codes, toll-free, short codes. Empty: the type's limit.")
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
            "position",
        ]

    def clean(self):
        """The boxes become the model's `rate_overrides` before the model's own checks run (a 10DLC
        sender needs a trust score or rates); a box that does not apply to the type is an error on
        that box, in words, instead of the old "Unknown carrier 'att'"."""
        cleaned = super().clean()
        kind = cleaned.get("kind")
        wanted = TEN_DLC_RATES if kind == Sender.Kind.TEN_DLC else ("rate_all",)
        overrides = {}
        for name, (carrier, label) in RATE_FIELDS.items():
            value = cleaned.get(name)
            if value is None:
                continue
            if name not in wanted:
                where = "the carrier boxes (AT&T, T-Mobile, Verizon, other)" if name == "rate_all" else "All carriers"
                self.add_error(name, f"{label} does not apply to this type of sender: use {where}.")
                continue
            overrides[carrier] = int(value) if float(value).is_integer() else value
        self.instance.rate_overrides = overrides
        return cleaned

    def validate_unique(self):
        """After the model's own checks (so a refused address is not also "give the sender a
        number"), and only where the pool's unique constraint has not already answered."""
        super().validate_unique()
        talent_id = self.instance.talent_id
        for field, message in (("phone_number", SENDER_TAKEN), ("messaging_service_sid", SERVICE_TAKEN)):
            value = getattr(self.instance, field)
            if value and field not in self.errors:
                if taken_by_another_talent(talent_id=talent_id, pools=False, **{field: value}):
                    self.add_error(field, message)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (carrier, _label) in RATE_FIELDS.items():
            if name in self.fields:
                self.fields[name].initial = (self.instance.rate_overrides or {}).get(carrier)
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
    actions = ["check_registration", "clear_unregistered"]
    readonly_fields = ["registration"]
    fieldsets = [
        (None, {"fields": ["talent", "kind", "phone_number", "messaging_service_sid", "position"]}),
        ("10DLC", {"fields": ["trust_score", "brand", "tmobile_daily_cap", "registration"]}),
        ("Limits", {"fields": [*RATE_FIELDS, "lookup_carriers"]}),
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

    @admin.action(description="Send from these numbers again (registered since Twilio's 30034)", permissions=["change"])
    def clear_unregistered(self, request, queryset):
        # Thin: what the mark is and why only a person clears it: messaging/sending/registration.py.
        cleared = clear_unregistered(queryset)
        if cleared:
            self.message_user(request, f"{cleared} sender(s) back in sending.", messages.SUCCESS)
        else:
            self.message_user(request, "None of these senders was held back by error 30034.")

    @display(description="Carrier lookups", boolean=True)
    def lookups(self, obj: Sender) -> bool:
        return SenderPool.objects.filter(talent_id=obj.talent_id, lookup_carriers=True).exists()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        SenderPool.objects.update_or_create(
            talent_id=obj.talent_id, defaults={"lookup_carriers": form.cleaned_data.get("lookup_carriers", False)}
        )
