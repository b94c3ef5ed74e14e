"""Who: the talent (tenant), the team working for it, its fans, and the audit trail."""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField


def validate_time_zone(value: str) -> None:
    from accounts.phones import known_zones  # cached: available_timezones() walks the disk

    if value not in known_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example America/New_York).")


def validate_signup_fields(value) -> None:
    from accounts.profile import signup_fields_errors  # the profile spec knows its own fields

    errors = signup_fields_errors(value)
    if errors:
        raise ValidationError(errors)


def validate_country_list(value: str) -> None:
    for code in filter(None, (c.strip() for c in value.split(","))):
        if len(code) != 2 or not code.isalpha() or not code.isupper():
            raise ValidationError(f"{code!r} is not a two-letter country code (for example US, GB).")


SENDER_TAKEN = "Another talent already sends from this number. A sender belongs to one talent: fans' replies and STOPs route by it."
SERVICE_TAKEN = (
    "Another talent already uses this Messaging Service SID. A sender belongs to one talent: "
    "create a Messaging Service per talent at Twilio."
)


class Talent(models.Model):
    """The tenant: one artist, athlete or creator with a published number and a fan community."""

    slug = models.SlugField(unique=True, help_text="Used in public links: /join/<slug>/")
    display_name = models.CharField(max_length=120)
    program_name = models.CharField(
        max_length=120, help_text="Named in every compliance text, e.g. 'Nova Ray Fan Club'."
    )
    sender_number = PhoneNumberField(blank=True, help_text="E.164 number fans text and messages come from.")
    messaging_service_sid = models.CharField(
        max_length=34,
        blank=True,
        validators=[RegexValidator(r"^MG[0-9a-fA-F]{32}$", "A Messaging Service SID is MG followed by 32 hex digits.")],
    )
    parts_per_second = models.PositiveIntegerField(
        "SMS parts per second",
        db_column="segments_per_second",  # the column keeps its name (issue 9: one word, one meaning)
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
        help_text="Carrier throughput of the sender in SMS parts per second: 1 long code, 3 toll-free, 100 short code.",
    )
    default_time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    min_age = models.PositiveSmallIntegerField(default=13, validators=[MinValueValidator(13), MaxValueValidator(21)])
    served_countries = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_country_list],
        help_text="Comma-separated ISO codes of countries fans may join from; empty means everywhere.",
    )
    message_frequency = models.CharField(max_length=60, default="Up to 8 msgs/month")
    support_contact = models.CharField(max_length=200, blank=True, help_text="Email or URL named in HELP replies.")
    help_text = models.TextField(blank=True, help_text="Extra text for HELP replies.")
    welcome_text = models.TextField(blank=True, help_text="Sent after a fan joins, below the compliance text.")
    # Set while a birthday text is live or paused (messaging/automations/dates.py): the signup form
    # then says the birth date is also used for a birthday text, and only fans who joined under
    # that wording get one (issue 14).
    birth_date_for_birthday = models.BooleanField(default=False, editable=False)
    data_keyword = models.CharField(
        max_length=20,
        default="MYDATA",
        db_default="MYDATA",
        validators=[RegexValidator(r"^[A-Za-z0-9]{2,20}$", "One word of letters and digits, e.g. MYDATA.")],
        help_text="A fan texting this word gets a link to see, download, correct or delete their data.",
    )
    quiet_hours_start = models.TimeField(default=dt.time(21, 0), help_text="Fan-local time marketing stops.")
    quiet_hours_end = models.TimeField(default=dt.time(8, 0), help_text="Fan-local time marketing may resume.")
    daily_frequency_cap = models.PositiveSmallIntegerField(
        default=3, help_text="Most campaign messages one fan gets per day; 0 means no cap."
    )
    approval_threshold = models.PositiveIntegerField(
        default=100_000, help_text="Campaigns to more recipients than this need a second team member's approval."
    )
    # SMS pumping (issue 15): signup codes and links are texts anyone can ask for; fraudsters ask for
    # them to premium numbers abroad and share the carriers' fees. Hourly caps per destination country.
    home_texts_per_hour = models.PositiveIntegerField(
        "Signup texts per hour, home country",
        default=50_000,
        db_default=50_000,
        help_text="Codes and join links an hour to numbers of the sender's country. High: a celebrity moment must not be cut.",
    )
    abroad_texts_per_hour = models.PositiveIntegerField(
        "Signup texts per hour, each other country",
        default=100,
        db_default=100,
        help_text="Codes and join links an hour to each other served country. Low: SMS pumping targets numbers abroad.",
    )
    requires_two_factor = models.BooleanField(
        "Team must use two-factor sign-in",
        default=False,
        db_default=False,
        help_text="Every team member of this talent must sign in to the console with an authenticator code.",
    )
    # Campaign texts only (compliance texts carry their own wording): a brand prefix so a fan knows
    # who writes, and an opt-out line, on every text or on the first campaign text each month per fan.
    # The console header's colour (issue 11): the team sees at a glance which talent it works in.
    brand_color = models.CharField(
        "brand colour",
        max_length=7,
        blank=True,
        default="",
        db_default="",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #RRGGBB, for example #6d28d9.")],
        help_text="Shown beside the talent's name in the console header, as #RRGGBB. Empty: one is picked.",
    )
    campaign_prefix = models.CharField(
        "brand prefix",
        max_length=40,
        blank=True,
        default="",
        db_default="",
        help_text="Put before every campaign text, e.g. 'Nova Ray:'. Carriers expect the sender to be named.",
    )
    opt_out_line = models.CharField(
        max_length=80,
        blank=True,
        default="",
        db_default="",
        help_text="Put after campaign texts, e.g. 'Reply STOP to opt out'. Empty: no line.",
    )

    class OptOutLineWhen(models.TextChoices):
        EVERY = "every", "On every campaign text"
        MONTHLY = "monthly", "On the first campaign text each month per fan"

    opt_out_line_when = models.CharField(
        max_length=16,
        choices=OptOutLineWhen.choices,
        default=OptOutLineWhen.EVERY,
        db_default=OptOutLineWhen.EVERY,
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Ask less (issue 15): which profile fields the signup form asks, {field: "required" |
    # "optional" | "off"}; a field not named keeps the platform default (accounts/profile.py).
    signup_fields = models.JSONField(default=dict, blank=True, validators=[validate_signup_fields])
    # Keep less (issue 15): the retention policy (messaging/privacy/retention.py, a daily task).
    # Counts, statuses and consent records are kept; these are what goes, and when.
    keep_message_bodies_days = models.PositiveIntegerField(
        "Keep message texts (days)",
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Texts both ways are wiped after this many days; counts and statuses stay.",
    )
    keep_inbound_media_days = models.PositiveIntegerField(
        "Keep fans' pictures (days)",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Links to pictures fans texted (MMS) are wiped after this many days.",
    )
    keep_import_reports_days = models.PositiveIntegerField(
        "Keep import reports (days)",
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="An import's error report (it may quote rows) is wiped after this many days.",
    )

    class Meta:
        ordering = ["display_name"]
        constraints = [
            # A sender belongs to one talent (issue 15): inbound texts route by it, so a copied
            # number or service would send another talent's STOPs nowhere.
            models.UniqueConstraint(
                fields=["sender_number"],
                condition=~models.Q(sender_number=""),
                name="talent_sender_unique",
                violation_error_message=SENDER_TAKEN,
            ),
            models.UniqueConstraint(
                fields=["messaging_service_sid"],
                condition=~models.Q(messaging_service_sid=""),
                name="talent_messaging_service_unique",
                violation_error_message=SERVICE_TAKEN,
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        if self._state.adding and not self.served_countries and self.sender_number:
            # A new talent texts its sender's country only until its team adds more (issue 15:
            # SMS pumping); existing talents keep what they have.
            from accounts.phones import country_of

            self.served_countries = country_of(str(self.sender_number))
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if not self.sender_number and not self.messaging_service_sid:
            raise ValidationError("A talent needs a sender number, a Messaging Service SID, or both.")

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.default_time_zone)

    @property
    def home_country(self) -> str:
        from accounts.phones import country_of

        # The sender's country; a talent on a Messaging Service alone (or a test number without a
        # country) falls back to its first served country, then the deployment's default region,
        # so its home cap (the high one) is never mistaken for the low one abroad.
        home = country_of(str(self.sender_number)) if self.sender_number else ""
        served = [c.strip() for c in self.served_countries.split(",") if c.strip()]
        return home or (served[0] if served else "") or settings.PHONENUMBER_DEFAULT_REGION

    def serves_country(self, country: str) -> bool:
        served = [c.strip() for c in self.served_countries.split(",") if c.strip()]
        return not served or country.upper() in served


class TeamMember(models.Model):
    """A console user working for one talent, with a role that decides what they may do there."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"  # everything, including team and exports
        MANAGER = "manager", "Manager"  # campaigns, audience, inbox
        AGENT = "agent", "Agent"  # the inbox: reads and answers fans
        ANALYST = "analyst", "Analyst"  # reports and exports, no sending

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="team")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "talent"], name="teammember_unique")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()} of {self.talent})"


class Fan(models.Model):
    """One person in one talent's community: one row per (talent, phone)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # texted in or imported, has not completed signup
        ACTIVE = "active", "Active"  # consented to messaging; receives campaigns
        OPTED_OUT = "opted_out", "Opted out"  # withdrew messaging consent (STOP, /me/, 21610)
        ERASED = "erased", "Erased"  # personal data wiped at the fan's request; phone only as hash
        # A text that may mean stop (consent/keywords.py rule 5): no campaigns (they go to active
        # fans only) until the team decides in the inbox (fan_hold_release / fan_opt_out) or the
        # fan texts START or STOP.
        HELD = "held", "Held (possible opt-out)"

    class Source(models.TextChoices):
        SMS = "sms", "Texted in"
        WEB = "web", "Signup page"
        IMPORT = "import", "Import"
        ADMIN = "admin", "Console"
        DEMO = "demo", "Synthetic (demo)"

    # No index of its own: every composite index below (and the unique constraint) starts with talent,
    # and each extra index costs a million-row import seconds.
    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="fans", db_index=False)
    # Null only once erased: the number then survives only as phone_hash.
    phone = PhoneNumberField(null=True, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False)
    first_name = models.CharField(max_length=80, blank=True)
    last_name = models.CharField(max_length=80, blank=True)
    email = models.EmailField(blank=True)
    birth_date = models.DateField(null=True, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Current partner-sharing consent; the evidence lives in consent.ConsentRecord.
    shares_with_partners = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SMS)
    joined_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    # Engagement, denormalised so segments over a million fans need no join to message tables.
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    last_click_at = models.DateTimeField(null=True, blank=True)
    # Set when a material terms change paused partner sharing until the fan agrees again.
    sharing_reconsent_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Part of every signed link's HMAC (accounts/tokens.py): rotating it kills all outstanding
    # links, so a used signup or self-service link cannot be replayed.
    # db_default too: bulk loaders (COPY in generate_fans, imports) skip Django's defaults.
    link_nonce = models.CharField(max_length=32, blank=True, editable=False, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["talent", "phone"], name="fan_talent_phone_unique")]
        indexes = [
            # The send query (active fans of a talent) and most segment filters start here.
            models.Index(fields=["talent", "status"], name="fan_talent_status"),
            models.Index(fields=["talent", "country", "region"], name="fan_talent_geo"),
            models.Index(fields=["talent", "time_zone"], name="fan_talent_tz"),
            models.Index(fields=["talent", "joined_at"], name="fan_talent_joined"),
            models.Index(fields=["talent", "birth_date"], name="fan_talent_birth"),
            # Erased numbers, looked up by keyed hash (signup and import refuse them): few rows.
            models.Index(fields=["talent", "phone_hash"], name="fan_erased_hash", condition=models.Q(status="erased")),
            # Audience segments (messaging/segments.py): postal-code prefix is LIKE 'abc%', which a
            # plain btree under a non-C collation cannot serve; the pattern opclass can, and it
            # serves equality too, so it replaces the plain (talent, postal_code) index. City and
            # engagement rules go without an index on purpose: a parallel scan counts a million fans
            # well under a second, and every index costs the million-row import seconds.
            models.Index(
                fields=["talent", "postal_code"], name="fan_talent_postal_prefix", opclasses=["", "varchar_pattern_ops"]
            ),
            # API v1's fan lists and members page by id within a talent (keyset): without it the
            # last page of a talent walked the primary key through every other talent's fans.
            models.Index(fields=["talent", "id"], name="fan_talent_id"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or (str(self.phone) if self.phone else f"Fan #{self.pk}")

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone or self.talent.default_time_zone)

    def rotate_link_nonce(self) -> None:
        """Invalidate every signed link issued for this fan (caller saves the field)."""
        self.link_nonce = secrets.token_hex(16)


# What the system records about a fan beside the profile (accounts/profile.py): the console shows
# them read-only; the synthetic-fan generator fills them. (Not the link nonce nor the re-consent
# marker: nobody reads those on a page.)
FAN_RECORD_FIELDS: tuple[str, ...] = (
    "status",
    "shares_with_partners",
    "source",
    "joined_at",
    "opted_out_at",
    "last_sent_at",
    "last_reply_at",
    "last_click_at",
    "created_at",
    "updated_at",
)


class AppendOnly(models.Model):
    """Rows written once and never changed: the record is evidence (audit events, consent records).

    Abstract and field-less, so the concrete models' fields and migrations are as before."""

    append_only_refusal = "This record is append-only."

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk and not kwargs.get("force_insert"):
            raise ValueError(self.append_only_refusal)
        super().save(*args, **kwargs)


class AuditEvent(AppendOnly):
    """An append-only record of an important write: who did what to which talent's data, when.

    Holds no fan personal data (ids and counts only), so it survives erasure.
    """

    append_only_refusal = "Audit events are append-only."

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)  # e.g. "fan.erased", "segment.exported"
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class Invite(models.Model):
    """A teammate invited by email to one talent with a role (accounts/team.py).

    The link carries a token that is an HMAC over this row's id, email, role, creation time and
    status (accounts/team.py invite_token): accepting or revoking changes the status, so a used
    link dies; TEAM_INVITE_MAX_AGE ends an unused one.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"  # created by invite_create; the link works
        ACCEPTED = "accepted", "Accepted"  # invite_accept made the TeamMember; the link is dead
        REVOKED = "revoked", "Revoked"  # invite_revoke by an owner; the link is dead

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=TeamMember.Role.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)  # accepted or revoked

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["talent", "status"], name="invite_talent_status")]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_role_display()} of {self.talent})"


class PendingSignup(models.Model):
    """A signup waiting for the SMS code that proves the typed number (accounts/views.py).

    A table with an expiry instead of the session: the typed number and profile are gone when the
    code expires (PHONE_CODE_MAX_AGE, 10 minutes), removed by `pending_signups_expire` every few
    minutes, instead of sitting in a session row for 14 days. The session holds only this row's id
    and a secret that must match `session_secret`.
    """

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=20)
    data = models.JSONField(default=dict)  # profile, consent boxes, ip, user agent
    terms_id = models.PositiveBigIntegerField()  # consent.TermsDocument ids (consent sits above accounts)
    privacy_id = models.PositiveBigIntegerField()
    digest = models.CharField(max_length=64)  # HMAC of the code; the code itself is never stored
    nonce = models.CharField(max_length=32)
    session_secret = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Signup waiting for its code (#{self.pk})"


# Issue 16: API tokens, idempotency keys and the outgoing-webhook outbox live in modules of their
# own (accounts/integration_models.py); imported here so Django registers them.
from accounts.integration_models import (  # noqa: E402, F401
    ApiToken,
    IdempotencyKey,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
