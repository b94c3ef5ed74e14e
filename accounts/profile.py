"""The fan profile, specified once: what is asked, whether it is required, and why it is asked.

Signup and the fan's data page (accounts/forms.py), profile corrections (accounts/services.py),
erasure and the data export (messaging/privacy), CSV imports and exports (messaging/audience) all
read this list. Each field carries `asked`, `required` and a one-line `why`, so a talent can later
choose per field what to ask (the platform default is below); fans see the `why` on the form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfileField:
    name: str  # the Fan column
    label: str
    kind: str  # text, email, date, country, zone: how forms, imports and exports read and write it
    why: str  # one line, shown to the fan: what this is used for
    required: bool = True  # on the signup form (imports never require it)
    asked: bool = True  # on the signup form at all
    max_length: int | None = None
    autocomplete: str = ""
    import_aliases: tuple[str, ...] = ()  # CSV headers that mean this field (normalised: lower, _)


PROFILE: tuple[ProfileField, ...] = (
    ProfileField(
        "first_name",
        "First name",
        "text",
        "So texts can greet you by name.",
        max_length=80,
        autocomplete="given-name",
        import_aliases=("first_name", "firstname", "first", "given_name"),
    ),
    ProfileField(
        "last_name",
        "Last name",
        "text",
        "To tell fans with the same first name apart.",
        max_length=80,
        autocomplete="family-name",
        import_aliases=("last_name", "lastname", "last", "surname", "family_name"),
    ),
    ProfileField(
        "email",
        "Email",
        "email",
        "Only to reach you if texts stop working.",
        max_length=254,
        autocomplete="email",
        import_aliases=("email", "e_mail", "email_address"),
    ),
    ProfileField(
        "birth_date",
        "Birth date",
        "date",
        "To check the community's minimum age.",
        autocomplete="bday",
        import_aliases=("birth_date", "birthdate", "date_of_birth", "dob", "birthday"),
    ),
    ProfileField(
        "city",
        "City",
        "text",
        "For news about shows and events near you.",
        max_length=100,
        autocomplete="address-level2",
        import_aliases=("city", "town"),
    ),
    ProfileField(
        "region",
        "State / region",
        "text",
        "For news about shows and events near you.",
        required=False,
        max_length=100,
        autocomplete="address-level1",
        import_aliases=("region", "state", "province", "county"),
    ),
    ProfileField(
        "postal_code",
        "Postal code",
        "text",
        "For news about shows and events near you.",
        max_length=20,
        autocomplete="postal-code",
        import_aliases=("postal_code", "postcode", "zip", "zip_code", "zipcode"),
    ),
    ProfileField(
        "country",
        "Country",
        "country",
        "Texts follow your country's rules.",
        autocomplete="country",
        import_aliases=("country", "country_code"),
    ),
    ProfileField(
        "time_zone",
        "Time zone",
        "zone",
        "So texts never arrive at night.",
        required=False,
        import_aliases=("time_zone", "timezone", "tz"),
    ),
)
BY_NAME = {f.name: f for f in PROFILE}
# Every profile column, in form order (the data page, erasure and the export walk these).
PROFILE_FIELDS: tuple[str, ...] = tuple(f.name for f in PROFILE)
# The text-like ones, which imports copy as given (birth_date is parsed on its own).
TEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in PROFILE if f.kind != "date")
