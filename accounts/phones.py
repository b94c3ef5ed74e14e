"""Phone numbers, countries and time zones for fans: parsing, the keyed phone hash, tz guesses."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import unicodedata
import zoneinfo

import phonenumbers
from django.conf import settings
from phonenumber_field.phonenumber import PhoneNumber, to_python
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA  # the table pn_timezone reads (its stub does not export it)

from accounts.countries import COUNTRY_NAMES

# Numbers that can receive texts. FIXED_LINE_OR_MOBILE is how NANP (US/CA) numbers classify.
_TEXTABLE = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.VOIP,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
}


# Already E.164 and plainly valid NANP: skips phonenumbers (~30 us a number) on a million-row import.
_NANP = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")


class PhoneError(ValueError):
    """A number that cannot be used. `reason` is one of REASONS; str() is a message for a person."""

    REASONS = ("empty", "unparseable", "invalid", "not_mobile")

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse(raw: str, *, region: str | None = None, mobile: bool = False) -> str:
    """The one phone parser: E.164 for a number as people type it, or PhoneError saying why.

    mobile=True also refuses numbers that cannot receive texts (landlines, service numbers).
    """
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise PhoneError("no phone number" if not text else f"{text[:32]!r}... is too long", reason="empty")
    if not mobile and _NANP.match(text):
        return text
    try:
        number = phonenumbers.parse(text, region or settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise PhoneError(f"{raw!r} is not a phone number", reason="unparseable") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"{raw!r} is not a valid number", reason="invalid")
    if mobile and phonenumbers.number_type(number) not in _TEXTABLE:
        raise PhoneError(f"{raw!r} cannot receive texts", reason="not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_FAN_MESSAGES = {
    "empty": "Enter your mobile number, for example +1 415 555 2671.",
    "unparseable": "That does not look like a phone number.",
    "invalid": "That phone number is not valid.",
    "not_mobile": "That looks like a landline or service number; texts need a mobile number.",
}


def parse_mobile(raw: str, *, region: str | None = None) -> str:
    """E.164 of a number that can receive texts, or PhoneError with a message for the fan."""
    try:
        return parse(raw, region=region, mobile=True)
    except PhoneError as exc:
        raise PhoneError(_FAN_MESSAGES[exc.reason], reason=exc.reason) from None


# A +1 number already in E.164 whose area code starts 2-9: what phonenumbers answers for it is the
# string itself (country code 1, the ten digits as the national number; NANP's national prefix "1"
# cannot be stripped from a number that does not start with 1). Every text of a US burst is one.
_E164_NANP = re.compile(r"\+1[2-9][0-9]{9}")


def normalise(raw: str) -> str:
    """Best-effort E.164 for routing (Twilio already sends E.164); the raw string when unparseable.

    Called by the inbound webhook for every text (issue 10, sixth session): Twilio's `From` of a US
    number skips phonenumbers (~8 % of a text's CPU), anything else is parsed once per process.
    tests/accounts/test_phone_normalise.py checks both against phonenumbers' own answer."""
    if raw and _E164_NANP.fullmatch(raw):
        return raw
    raw = raw or ""
    # A sender's field can be 2,000 characters of anything: only what could be a number is memoised.
    parse_ = _normalised if len(raw) <= 32 else _normalised.__wrapped__
    return parse_(raw, settings.PHONENUMBER_DEFAULT_REGION)


@functools.lru_cache(maxsize=4096)  # a pure function of its two arguments
def _normalised(raw: str, region: str) -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw.strip()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A burst's numbers are parsed once per process, not at every step (issue 10, fifth session): the
# rule processor asked phonenumbers about each new number ~20 times (is it possible, its country,
# its time zones, and every str() or lookup of the fan's PhoneNumberField re-validates it), a third
# of the rule cost. Each answer is a pure function of the string (and of settings that do not
# change at run time), so a bounded per-process memo is exact; 65,536 numbers are a few MB.
_MEMO = 65_536


@functools.lru_cache(maxsize=_MEMO)
def _parsed(value: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value)
    except phonenumbers.NumberParseException:
        return None


@functools.lru_cache(maxsize=_MEMO)
def is_possible_e164(value: str) -> bool:
    """Could this be a phone number we can text back (not a short code or an alphanumeric sender)?"""
    if not value.startswith("+"):
        return False
    parsed = _parsed(value)
    return parsed is not None and phonenumbers.is_possible_number(parsed)


@functools.lru_cache(maxsize=_MEMO)
def country_of(e164: str) -> str:
    parsed = _parsed(e164)
    return (phonenumbers.region_code_for_number(parsed) or "") if parsed is not None else ""


@functools.lru_cache(maxsize=_MEMO)
def _zones_of(phone: str) -> tuple[str, ...]:
    parsed = _parsed(phone)
    return tuple(pn_timezone.time_zones_for_number(parsed)) if parsed is not None else ()


class KnownNumber(PhoneNumber):
    """A PhoneNumberField value whose validity and formats are worked out once.

    django-phonenumber-field validates the number again on every str(), bool(), comparison and
    lookup (`is_valid_number` walks the region's patterns: ~0.1 ms each time); a fan's number was
    turned into text 4-5 times a link. The answers are kept on the instance; nothing here mutates a
    parsed number in place.
    """

    def is_valid(self) -> bool:
        valid = self.__dict__.get("_known_valid")
        if valid is None:
            valid = self.__dict__["_known_valid"] = super().is_valid()
        return valid

    def format_as(self, format) -> str:  # noqa: A002 - the library's name
        formats = self.__dict__.setdefault("_known_formats", {})
        text = formats.get(format)
        if text is None:
            text = formats[format] = super().format_as(format)
        return text

    def __str__(self) -> str:
        text = self.__dict__.get("_known_str")
        if text is None:
            text = self.__dict__["_known_str"] = super().__str__()
        return text

    def __hash__(self) -> int:
        return hash(str(self))


@functools.lru_cache(maxsize=_MEMO)
def _known(value: str) -> KnownNumber:
    template = KnownNumber()
    template.merge_from(phone_field_value(value))
    # Validated and formatted once, here; the same number read back from the database has the
    # same attributes, so phone_text() of it costs nothing more.
    _remember(_key(template), str(template))
    return template


def known_number(value: str) -> KnownNumber:
    """`value` as a PhoneNumberField value parsed and validated once per process: give it to
    filters (`phone__in=`) and new rows, which otherwise parse and validate it again each time.
    A fresh copy each call (the memo's own instance is never handed out)."""
    template = _known(value)
    number = KnownNumber()
    number.merge_from(template)
    number.__dict__.update(
        _known_valid=template.is_valid(),
        _known_str=str(template),
        _known_formats=dict(template.__dict__.get("_known_formats", {})),
    )
    return number


def phone_field_value(value: str) -> PhoneNumber:
    """What the model field makes of a string (django-phonenumber-field's to_python)."""
    return to_python(value, region=getattr(settings, "PHONENUMBER_DEFAULT_REGION", None))


def phone_text(value) -> str:
    """str() of a PhoneNumberField value (or a string), validated once per number per process.

    str() is a function of the number's parsed attributes (and of settings that do not change at
    run time): memoised by them, so a fan row read back from the database costs no validation."""
    if value is None or isinstance(value, str):
        return value or ""  # (not bool(value): a PhoneNumber's truth is len(str()), a validation)
    if isinstance(value, KnownNumber) or not isinstance(value, PhoneNumber):
        return str(value)
    key = _key(value)
    text = _TEXTS.get(key)
    if text is None:
        text = _remember(key, str(value))
    return text


def _key(value: phonenumbers.PhoneNumber) -> tuple:
    return (
        value.raw_input,
        value.country_code,
        value.national_number,
        value.extension,
        value.italian_leading_zero,
        value.number_of_leading_zeros,
        value.country_code_source,
        value.preferred_domestic_carrier_code,
    )


def _remember(key: tuple, text: str) -> str:
    if len(_TEXTS) >= _MEMO:
        _TEXTS.clear()
    _TEXTS[key] = text
    return text


_TEXTS: dict[tuple, str] = {}


def display(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def phone_hash(*, talent_id: int, e164: str) -> str:
    """Keyed HMAC of a talent's fan's E.164 number: what survives erasure.

    An import computes the same hash to skip numbers whose owner asked to be erased, without the
    database keeping the number itself. Keyed (not a bare SHA-256) because a phone number has so
    few possible values that an unkeyed hash is reversible by enumeration.
    """
    return phone_hasher(talent_id)(e164)


def phone_hasher(talent_id: int):
    """phone_hash for one talent with the key derived once (an import hashes a million numbers).

    Same result as Django's salted_hmac("fancommunity.phone_hash", ..., algorithm="sha256"), which
    derives its key as sha256(salt + secret).
    """
    if settings.PHONE_HASH_KEY:
        key = settings.PHONE_HASH_KEY.encode()
    else:
        key = hashlib.sha256(("fancommunity.phone_hash" + settings.SECRET_KEY).encode()).digest()
    prefix = f"{talent_id}:".encode()

    def _hash(e164: str) -> str:
        return hmac.new(key, prefix + e164.encode(), hashlib.sha256).hexdigest()

    return _hash


def _folded(name: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)).casefold()


@functools.cache
def country_choices() -> list[tuple[str, str]]:
    """(code, English name) for every region phonenumbers knows, sorted by name as a reader
    would ("Åland Islands" with the A's, not after Zimbabwe)."""
    return sorted(COUNTRY_NAMES.items(), key=lambda c: _folded(c[1]))


@functools.cache
def known_zones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk (tens of ms): once per process.
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def time_zone_choices() -> list[str]:
    return sorted(z for z in known_zones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@functools.cache
def _zones_by_country() -> dict[str, list[str]]:
    """{country: its canonical zones} from the tz database's zone1970.tab (falling back to
    zone.tab): the zones in use today, without the obsolete links ("US/Pacific-New",
    "Asia/Calcutta") that available_timezones() also lists."""
    for directory in zoneinfo.TZPATH:
        for name in ("zone1970.tab", "zone.tab"):
            path = os.path.join(directory, name)
            if not os.path.exists(path):
                continue
            table: dict[str, list[str]] = {}
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("#") or not line.strip():
                        continue
                    columns = line.rstrip("\n").split("\t")
                    if len(columns) >= 3 and columns[2] in known_zones():
                        for country in columns[0].split(","):
                            table.setdefault(country, []).append(columns[2])
            return table
    return {}


def _zone_label(zone: str) -> str:
    return zone.replace("_", " ").replace("/", " / ")


@functools.cache
def _all_canonical_zones() -> list[str]:
    canonical = {z for zones in _zones_by_country().values() for z in zones}
    return sorted(canonical) if canonical else time_zone_choices()


def zone_choices(country: str = "") -> list:
    """Choices for the time-zone box behind "Automatic (change)": the country's own zones first,
    then every zone in use today (about 310, not the 519 names of the whole database)."""
    own = _zones_by_country().get((country or "").upper(), [])
    everything = [(z, _zone_label(z)) for z in _all_canonical_zones()]
    if not own:
        return everything
    name = COUNTRY_NAMES.get(country.upper(), country)
    return [(name, [(z, _zone_label(z)) for z in own]), ("Everywhere", everything)]


# Regions of the big multi-zone countries, by the postal abbreviation or name fans type.
_US_STATES = {
    "America/New_York": "CT DE DC FL GA ME MD MA MI NH NJ NY NC OH PA RI SC VT VA WV IN KY",
    "America/Chicago": "AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI",
    "America/Denver": "CO MT NM UT WY ID",
    "America/Phoenix": "AZ",
    "America/Los_Angeles": "CA NV OR WA",
    "America/Anchorage": "AK",
    "Pacific/Honolulu": "HI",
    "America/Puerto_Rico": "PR",
}
_US_STATE_NAMES = {
    "california": "CA", "new york": "NY", "texas": "TX", "florida": "FL", "illinois": "IL",
    "washington": "WA", "oregon": "OR", "nevada": "NV", "arizona": "AZ", "colorado": "CO",
    "georgia": "GA", "massachusetts": "MA", "new jersey": "NJ", "pennsylvania": "PA", "ohio": "OH",
    "michigan": "MI", "minnesota": "MN", "utah": "UT", "hawaii": "HI", "alaska": "AK",
    "tennessee": "TN", "louisiana": "LA", "missouri": "MO", "wisconsin": "WI", "virginia": "VA",
    "north carolina": "NC", "south carolina": "SC", "maryland": "MD", "idaho": "ID",
}  # fmt: skip
_CA_PROVINCES = {
    "America/Toronto": "ON QC",
    "America/Winnipeg": "MB",
    "America/Regina": "SK",
    "America/Edmonton": "AB NT",
    "America/Vancouver": "BC YT",
    "America/Halifax": "NS NB PE",
    "America/St_Johns": "NL",
}
_AU_STATES = {
    "Australia/Sydney": "NSW ACT",
    "Australia/Melbourne": "VIC",
    "Australia/Brisbane": "QLD",
    "Australia/Adelaide": "SA",
    "Australia/Perth": "WA",
    "Australia/Darwin": "NT",
    "Australia/Hobart": "TAS",
}
_REGION_TABLES = {
    "US": {code: tz for tz, codes in _US_STATES.items() for code in codes.split()},
    "CA": {code: tz for tz, codes in _CA_PROVINCES.items() for code in codes.split()},
    "AU": {code: tz for tz, codes in _AU_STATES.items() for code in codes.split()},
}
# US ZIP codes by first digit: a coarse fallback when no state was given (0-3 east ... 9 west).
_US_ZIP_FIRST_DIGIT = {
    "0": "America/New_York", "1": "America/New_York", "2": "America/New_York", "3": "America/New_York",
    "4": "America/New_York", "5": "America/Chicago", "6": "America/Chicago", "7": "America/Chicago",
    "8": "America/Denver", "9": "America/Los_Angeles",
}  # fmt: skip


# Countries sharing a calling code with others (so the code alone names several zones) but
# living in one zone themselves.
_SINGLE_ZONE = {"GB": "Europe/London", "NO": "Europe/Oslo", "FI": "Europe/Helsinki", "IT": "Europe/Rome"}


def guess_time_zone(*, country: str = "", region: str = "", postal_code: str = "", phone: str = "") -> str:
    """Best guess of a fan's IANA time zone; "" when nothing points anywhere.

    Order: the region (state/province) for multi-zone countries, then the US ZIP's first digit,
    then a country with a single zone, then what the phone number's prefix says (phonenumbers'
    timezone data knows US area codes).
    """
    country = (country or "").strip().upper()
    region_key = (region or "").strip()
    table = _REGION_TABLES.get(country)
    if table and region_key:
        code = region_key.upper()
        if country == "US":
            code = _US_STATE_NAMES.get(region_key.lower(), code)
        if code in table:
            return table[code]
    postal = (postal_code or "").strip()
    if country == "US" and postal[:1].isdigit():
        return _US_ZIP_FIRST_DIGIT[postal[0]]
    if country:
        zone = _SINGLE_ZONE.get(country)
        calling_code = phonenumbers.country_code_for_region(country)
        zones = TIMEZONE_DATA.get(str(calling_code), ()) if calling_code else ()
        if zone is None and len(zones) == 1:
            zone = zones[0]
        if zone and zone in known_zones():
            return zone
    if phone:
        zones = _zones_of(phone)
        if len(zones) == 1 and zones[0] in known_zones():
            phone_country = country_of(phone)
            if not country or phone_country == country:
                return zones[0]
    return ""
