"""What fans agreed to: versioned documents and append-only consent evidence."""

from __future__ import annotations

from django.db import models

from accounts.models import AppendOnly, Fan, Talent


class TermsDocument(models.Model):
    """One published version of a talent's (or the platform's) Terms of Use or Privacy Policy.

    Versions are never edited after publishing: a change is a new version, and every ConsentRecord
    points at the versions the fan was shown.
    """

    class Kind(models.TextChoices):
        TERMS = "terms", "Terms of Use"
        PRIVACY = "privacy", "Privacy Policy"

    talent = models.ForeignKey(
        Talent,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="documents",
        help_text="Empty for a platform-wide document.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.TextField(help_text="Plain-language summary shown on the signup page.")
    body = models.TextField(help_text="The full text.")
    # A material change (e.g. new partners) asks fans who agreed to an older version again.
    is_material = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True, help_text="Empty while a draft.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["talent_id", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["talent", "kind", "version"], name="terms_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"


class ConsentRecord(AppendOnly):
    """Append-only evidence of one consent decision: who, which purpose, which versions, when, how."""

    append_only_refusal = "Consent records are append-only evidence."

    class Purpose(models.TextChoices):
        MESSAGING = "messaging", "Recurring texts from the talent"
        PARTNER_SHARING = "partner_sharing", "Share profile with the talent's partners"

    class Action(models.TextChoices):
        GRANTED = "granted", "Granted"
        WITHDRAWN = "withdrawn", "Withdrawn"
        DECLINED = "declined", "Declined"  # shown the optional box at signup and left it unticked

    class Method(models.TextChoices):
        WEB_FORM = "web_form", "Signup form"
        SMS_KEYWORD = "sms_keyword", "SMS keyword"
        SELF_SERVICE = "self_service", "Fan's data page"
        IMPORT = "import", "Import with evidence"
        CARRIER = "carrier", "Carrier opt-out (Twilio 21610)"
        CONSOLE = "console", "Team console"

    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="consents", db_index=False)  # see Meta
    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    method = models.CharField(max_length=16, choices=Method.choices)
    # Partial indexes in Meta: imported and keyword records carry no document, and a full index on
    # NULLs would cost every bulk insert for nothing.
    terms = models.ForeignKey(
        TermsDocument, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    privacy = models.ForeignKey(
        TermsDocument, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    # The exact wording the fan saw next to the checkbox, so the record proves what was agreed.
    disclosure = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    evidence = models.CharField(max_length=200, blank=True, help_text="MessageSid, import batch id ...")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Starts with fan, so it also serves the FK (no separate fan_id index).
            models.Index(fields=["fan", "purpose", "-created_at"], name="consent_fan_purpose"),
            models.Index(fields=["terms"], name="consent_terms", condition=models.Q(terms__isnull=False)),
            models.Index(fields=["privacy"], name="consent_privacy", condition=models.Q(privacy__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.action} ({self.get_method_display()})"


class Partner(models.Model):
    """A named partner of a talent that may receive the profiles of fans who opted in to sharing.

    Listed on the talent's public privacy page (consent/views.py privacy) and next to the sharing
    box at signup, so "partners" is never a blank cheque; a partner export names one of these.
    """

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="partners")
    name = models.CharField(max_length=120)
    purpose = models.CharField(max_length=200, help_text="What the partner does with the data, in one line.")
    website = models.URLField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Untick when the partner no longer receives data.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["talent_id", "name"]
        constraints = [models.UniqueConstraint(fields=["talent", "name"], name="partner_talent_name_unique")]

    def __str__(self) -> str:
        return self.name
