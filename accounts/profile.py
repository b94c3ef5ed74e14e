"""The fan profile, specified once: what is asked, whether it is required, and why it is asked.

Signup and the fan's data page (accounts/forms.py), profile corrections (accounts/services.py),
erasure and the data export (messaging/privacy), CSV imports and exports (messaging/audience) all
read this list. Each field carries `asked`, `required` and a one-line `why`; fans see the `why` on
the form. A talent chooses per field what its signup form asks (`Talent.signup_fields`, edited on
its console page); `signup_spec(talent)` resolves the choice. The platform default asks only what
the product uses: a first name (texts greet you), the birth date (the age gate) and a postal code
(local time, optional). Everything else is off until the talent turns it on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


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
        required=False,
        asked=False,
        max_length=80,
        autocomplete="family-name",
        import_aliases=("last_name", "lastname", "last", "surname", "family_name"),
    ),
    ProfileField(
        "email",
        "Email",
        "email",
        "Only to reach you if texts stop working.",
        required=False,
        asked=False,
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
        required=False,
        asked=False,
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
        asked=False,
        max_length=100,
        autocomplete="address-level1",
        import_aliases=("region", "state", "province", "county"),
    ),
    ProfileField(
        "postal_code",
        "Postal code",
        "text",
        "So texts arrive at sensible hours where you live.",
        required=False,
        max_length=20,
        autocomplete="postal-code",
        import_aliases=("postal_code", "postcode", "zip", "zip_code", "zipcode"),
    ),
    ProfileField(
        "country",
        "Country",
        "country",
        "Texts follow your country's rules.",
        asked=False,  # read from the number by default
        autocomplete="country",
        import_aliases=("country", "country_code"),
    ),
    ProfileField(
        "time_zone",
        "Time zone",
        "zone",
        "So texts never arrive at night. We work it out from your number and postal code.",
        required=False,
        import_aliases=("time_zone", "timezone", "tz"),
    ),
)
# The birth date's "why" while the talent sends birthday texts (Talent.birth_date_for_birthday): a
# fan gets a birthday text only if the form they joined on said so (issue 14).
BIRTHDAY_WHY = "To check the community's minimum age, and to text you on your birthday."


def birth_date_why(*, birthday_texts: bool) -> str:
    return BIRTHDAY_WHY if birthday_texts else BY_NAME["birth_date"].why


BY_NAME = {f.name: f for f in PROFILE}
# Every profile column, in form order (the data page, erasure and the export walk these).
PROFILE_FIELDS: tuple[str, ...] = tuple(f.name for f in PROFILE)
# The text-like ones, which imports copy as given (birth_date is parsed on its own).
TEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in PROFILE if f.kind != "date")


# --- Per talent: what the signup form asks -----------------------------------------------------

REQUIRED, OPTIONAL, OFF = "required", "optional", "off"
ASK_CHOICES = ((REQUIRED, "Required"), (OPTIONAL, "Optional"), (OFF, "Not asked"))
# The age gate needs a birth date: every talent has a minimum age (13 at least), so the birth date
# is always asked and required. The rest is the talent's choice.
LOCKED = {"birth_date": REQUIRED}


def default_ask(spec: ProfileField) -> str:
    return LOCKED.get(spec.name) or (OFF if not spec.asked else REQUIRED if spec.required else OPTIONAL)


def signup_fields_errors(value) -> list[str]:
    """What is wrong with a Talent.signup_fields value (empty list: nothing)."""
    if not isinstance(value, dict):
        return ["Expected a mapping of profile field to required / optional / off."]
    errors = []
    for name, ask in value.items():
        if name not in BY_NAME:
            errors.append(f"{name!r} is not a profile field ({', '.join(PROFILE_FIELDS)}).")
        elif ask not in (REQUIRED, OPTIONAL, OFF):
            errors.append(f"{name}: {ask!r} must be required, optional or off.")
        elif name in LOCKED and ask != LOCKED[name]:
            errors.append(f"{BY_NAME[name].label} is always asked and required: the minimum age needs it.")
    return errors


def ask_of(chosen: dict | None, spec: ProfileField) -> str:
    ask = (chosen or {}).get(spec.name) if isinstance(chosen, dict) else None
    return LOCKED.get(spec.name) or (ask if ask in (REQUIRED, OPTIONAL, OFF) else default_ask(spec))


def signup_spec(chosen: dict | None) -> tuple[ProfileField, ...]:
    """The fields a talent's signup form asks (Talent.signup_fields resolved), in form order."""
    resolved = []
    for spec in PROFILE:
        ask = ask_of(chosen, spec)
        if ask != OFF:
            resolved.append(replace(spec, asked=True, required=ask == REQUIRED))
    return tuple(resolved)
