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
from accounts.profile import PROFILE, ProfileField, birth_date_why, signup_spec
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
        done = False

        def option(v, label) -> str:
            nonlocal done
            mark = not done and str(v) == selected
            done = done or mark
            return f'<option value="{escape(v)}"{" selected" if mark else ""}>{escape(label)}</option>'

        parts = []
        for v, label in self.choices:
            if isinstance(label, list | tuple):  # an <optgroup>: (group name, [(value, label), ...])
                inner = "".join(option(gv, gl) for gv, gl in label)
                parts.append(f'<optgroup label="{escape(v)}">{inner}</optgroup>')
            else:
                parts.append(option(v, label))
        return mark_safe(f"<select{flatatt(final)}>{''.join(parts)}</select>")  # noqa: S308 - every part escaped


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
    the one profile spec (accounts/profile.py): label, required, the one-line why, autocomplete;
    the talent's choice (Talent.signup_fields) says which are asked and which are required."""

    # Django collects the Field attributes of a form class body; these are built from the spec,
    # all of them; __init__ keeps the ones this talent asks.
    locals().update({spec.name: _profile_form_field(spec) for spec in PROFILE})
    # The data page also shows a field the talent no longer asks when the fan's row has a value.
    keep_filled = False

    def __init__(self, *args, talent: Talent, phone: str = "", **kwargs):
        self.talent = talent
        self.phone = phone
        self.underage = False
        self.first_error = ""
        super().__init__(*args, **kwargs)
        asked = {spec.name: spec for spec in signup_spec(talent.signup_fields)}
        if "birth_date" in self.fields:  # the form says what the birth date is used for (issue 14)
            self.fields["birth_date"].help_text = birth_date_why(birthday_texts=talent.birth_date_for_birthday)
        for spec in PROFILE:
            if spec.name in asked:
                self.fields[spec.name].required = asked[spec.name].required and not self.keep_filled
            elif not (self.keep_filled and self.initial.get(spec.name)):
                del self.fields[spec.name]
            else:
                self.fields[spec.name].required = False
        if "country" in self.fields:
            served = [c.strip() for c in talent.served_countries.split(",") if c.strip()]
            choices = phones.country_choices()
            if served:
                choices = [c for c in choices if c[0] in served]
            self.fields["country"].choices = choices
        if "time_zone" in self.fields:
            country = self.initial.get("country") or (phones.country_of(phone) if phone else "")
            self.fields["time_zone"].choices = [("", "Automatic")] + phones.zone_choices(country)
            self.zone_guess = (
                phones.guess_time_zone(country=country, region=self.initial.get("region", ""), phone=phone)
                or talent.default_time_zone
            )

    @property
    def profile_bound_fields(self) -> list:
        """The profile fields this form shows, in spec order (the time zone is shown on its own)."""
        return [self[n] for n in ProfileFields.base_fields if n in self.fields and n != "time_zone"]

    def full_clean(self):
        super().full_clean()
        self._tie_errors()

    def _tie_errors(self) -> None:
        """Every error tied to its field (aria-describedby, aria-invalid), and the first one
        focused when the page comes back: server-side `autofocus`, no script needed."""
        for name, field in self.fields.items():
            if name not in self.errors:
                continue
            bound = self[name]
            described = [f"{bound.auto_id}_error"]
            if field.help_text:
                described.insert(0, f"{bound.auto_id}_helptext")
            field.widget.attrs.update({"aria-describedby": " ".join(described), "aria-invalid": "true"})
            if not self.first_error:
                self.first_error = name
                field.widget.attrs["autofocus"] = True

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
        if born is None:
            return born  # only on the data page, where nothing new is required
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
        if "country" not in self.fields and self.phone:
            data["country"] = phones.country_of(self.phone)  # not asked: the number says it
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
        """The cleaned profile: the fields asked, plus the country read from the number and the
        time zone worked out (never a blank over what the fan's row holds)."""
        names = [n for n in ProfileFields.base_fields if n in self.fields or n in ("country", "time_zone")]
        return {name: self.cleaned_data[name] for name in names if name in self.cleaned_data}


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
        # The order the page shows them in, so the first error focused is the first one on screen.
        self.order_fields(["phone", *ProfileFields.base_fields, "consent_messaging", "consent_sharing"])
        self.fields["consent_messaging"].label = texts.messaging_disclosure(talent)
        self.fields["consent_sharing"].label = texts.sharing_disclosure(talent)
        if phone:
            # The number came inside a signed link: shown, never taken from the form.
            del self.fields["phone"]

    def clean_phone(self) -> str:
        # A number typed without +country reads in the country chosen, else the first one served.
        served = [c.strip() for c in self.talent.served_countries.split(",") if c.strip()]
        country = self.data.get("country") or (served[0] if served else None)
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
    """Corrections on /me/: nothing new is required of a fan who already joined."""

    keep_filled = True


class ConsoleLoginForm(UnfoldAuthenticationForm):  # unfold's: Django's admin sign-in form, styled
    """The console's sign-in form: says so when sign-ins are locked after repeated failures
    (accounts.auth_backends), instead of the usual "enter the correct username and password"."""

    def clean(self):
        if self.request is not None and login_locked(
            ip=client_ip(self.request), username=self.cleaned_data.get("username")
        ):
            raise forms.ValidationError(LOGIN_LOCKED_MESSAGE, code="throttled")
        return super().clean()
