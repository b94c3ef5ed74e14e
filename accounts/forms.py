"""Fan-facing forms: signup, the phone code, profile corrections on the data page."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from unfold.forms import AuthenticationForm as UnfoldAuthenticationForm

from accounts import phones
from accounts.models import Talent
from accounts.profile import PROFILE, ProfileField
from accounts.ratelimit import LOGIN_LOCKED_MESSAGE, client_ip, login_locked
from consent import texts

MAX_AGE_YEARS = 120


class FastSelect(forms.Select):
    """A <select> rendered in one pass: the stock widget renders a template per option, which
    costs ~0.3 s per page for the ~650 country and time-zone options here."""

    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, attrs)
        final["name"] = name
        selected = "" if value is None else str(value)
        options = "".join(
            f'<option value="{escape(v)}"{" selected" if str(v) == selected else ""}>{escape(label)}</option>'
            for v, label in self.choices
        )
        return mark_safe(f"<select{flatatt(final)}>{options}</select>")  # noqa: S308 - every part escaped


def age_on(birth_date: dt.date, today: dt.date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def _profile_form_field(spec: ProfileField) -> forms.Field:
    """The form field for one entry of the profile spec (accounts/profile.py)."""
    attrs = {"autocomplete": spec.autocomplete} if spec.autocomplete else {}
    common = {"label": spec.label, "required": spec.required, "help_text": spec.why}
    if spec.kind == "email":
        return forms.EmailField(max_length=spec.max_length, widget=forms.EmailInput(attrs=attrs), **common)
    if spec.kind == "date":
        return forms.DateField(
            widget=forms.DateInput(attrs={"type": "date", **attrs}, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d"],
            error_messages={"invalid": f"Enter your {spec.label.lower()} as YYYY-MM-DD."},
            **common,
        )
    if spec.kind in ("country", "zone"):
        return forms.ChoiceField(widget=FastSelect(attrs=attrs), **common)
    return forms.CharField(max_length=spec.max_length, widget=forms.TextInput(attrs=attrs), **common)


class ProfileFields(forms.Form):
    """The profile a fan gives a talent; shared by signup and the data page. Its fields come from
    the one profile spec (accounts/profile.py): label, required, the one-line why, autocomplete."""

    # Django collects the Field attributes of a form class body; these are built from the spec.
    locals().update({spec.name: _profile_form_field(spec) for spec in PROFILE if spec.asked})

    def __init__(self, *args, talent: Talent, phone: str = "", **kwargs):
        self.talent = talent
        self.phone = phone
        self.underage = False
        super().__init__(*args, **kwargs)
        served = [c.strip() for c in talent.served_countries.split(",") if c.strip()]
        choices = phones.country_choices()
        if served:
            choices = [c for c in choices if c[0] in served]
        self.fields["country"].choices = choices
        guess = (
            phones.guess_time_zone(
                country=self.initial.get("country", ""), region=self.initial.get("region", ""), phone=phone
            )
            or talent.default_time_zone
        )
        self.fields[
            "time_zone"
        ].help_text = (
            f"Our best guess so far: {guess}. Leave it on Automatic to guess from your address, or pick yours."
        )
        self.fields["time_zone"].choices = [("", "Automatic (from my address)")] + [
            (z, z) for z in phones.time_zone_choices()
        ]

    def _clean_name(self, name: str) -> str:
        value = self.cleaned_data[name].strip()
        if any(ord(ch) < 32 for ch in value):
            raise forms.ValidationError("Remove the control characters.")
        return value

    def clean_first_name(self) -> str:
        return self._clean_name("first_name")

    def clean_last_name(self) -> str:
        return self._clean_name("last_name")

    def clean_birth_date(self) -> dt.date:
        born = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError("Your birth date cannot be in the future.")
        if age_on(born, today) > MAX_AGE_YEARS:
            raise forms.ValidationError("Please check the year of your birth date.")
        if age_on(born, today) < self.talent.min_age:
            self.underage = True
            raise forms.ValidationError(f"You need to be at least {self.talent.min_age} to join.")
        return born

    def clean_country(self) -> str:
        country = self.cleaned_data["country"]
        if not self.talent.serves_country(country):
            raise forms.ValidationError(f"{self.talent.display_name}'s community is not open in that country yet.")
        return country

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("time_zone"):
            data["time_zone"] = (
                phones.guess_time_zone(
                    country=data.get("country", ""),
                    region=data.get("region", ""),
                    postal_code=data.get("postal_code", ""),
                    phone=self.phone,
                )
                or self.talent.default_time_zone
            )
        return data

    def profile(self) -> dict:
        return {name: self.cleaned_data[name] for name in ProfileFields.base_fields}


class JoinForm(ProfileFields):
    phone = forms.CharField(
        max_length=32,
        label="Mobile number",
        help_text="We text a code to this number to check it is yours.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    consent_messaging = forms.BooleanField(
        required=True, error_messages={"required": "Tick this box to receive the texts; it is how the community works."}
    )
    consent_sharing = forms.BooleanField(required=False)
    terms_version = forms.IntegerField(widget=forms.HiddenInput)
    privacy_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, talent: Talent, phone: str = "", **kwargs):
        super().__init__(*args, talent=talent, phone=phone, **kwargs)
        self.fields["consent_messaging"].label = texts.messaging_disclosure(talent)
        self.fields["consent_sharing"].label = texts.sharing_disclosure(talent)
        if phone:
            # The number came inside a signed link: shown, never taken from the form.
            del self.fields["phone"]

    def clean_phone(self) -> str:
        country = self.data.get("country") or None
        try:
            return phones.parse_mobile(self.cleaned_data["phone"], region=country if isinstance(country, str) else None)
        except phones.PhoneError as exc:
            raise forms.ValidationError(str(exc))

    def clean(self):
        if "phone" in self.fields and self.cleaned_data.get("phone"):
            self.phone = self.cleaned_data["phone"]
        phone_country = phones.country_of(self.phone) if self.phone else ""
        if phone_country and not self.talent.serves_country(phone_country):
            field = "phone" if "phone" in self.fields else None
            self.add_error(
                field, f"{self.talent.display_name}'s community does not text numbers from that country yet."
            )
        return super().clean()


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=6,
        min_length=6,
        label="Code from the text",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]{6}"}),
    )


class ProfileForm(ProfileFields):
    pass


class ConsoleLoginForm(UnfoldAuthenticationForm):  # unfold's: Django's admin sign-in form, styled
    """The console's sign-in form: says so when sign-ins are locked after repeated failures
    (accounts.auth_backends), instead of the usual "enter the correct username and password"."""

    def clean(self):
        if self.request is not None and login_locked(
            ip=client_ip(self.request), username=self.cleaned_data.get("username")
        ):
            raise forms.ValidationError(LOGIN_LOCKED_MESSAGE, code="throttled")
        return super().clean()
