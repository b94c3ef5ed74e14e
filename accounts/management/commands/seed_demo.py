"""manage.py seed_demo: the demo talent, its owner login, terms and ~2,000 synthetic fans.

Idempotent: a second run changes nothing that is already there (make run calls it every time).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Fan, Talent, TeamMember
from consent.models import ConsentRecord, TermsDocument

DEMO_SLUG = "demo"
OWNER_USERNAME = "owner"
OWNER_PASSWORD = "fancommunity-demo"  # printed by `make run`; a demo login, never a production one
DEMO_FANS = 2000

TERMS_SUMMARY = (
    "You get texts from Nova Ray's team: tour dates, presales and the odd voice note. Up to 8 a month. "
    "Reply STOP any time and they stop at once. We never sell your data."
)
PRIVACY_SUMMARY = (
    "We keep your name, number, city and birthday to send you texts that fit where you are. We share "
    "your profile with partners only if you tick the separate box. You can see, download or delete "
    "everything at any time by texting MYDATA."
)


class Command(BaseCommand):
    help = "Create (once) the demo talent, its owner login, published terms and synthetic fans."

    def handle(self, *args, **options):
        with transaction.atomic():
            talent, created = Talent.objects.get_or_create(
                slug=DEMO_SLUG,
                defaults={
                    "display_name": "Nova Ray",
                    "program_name": "Nova Ray Fan Club",
                    "sender_number": "+15005550006",
                    "parts_per_second": 100,
                    "default_time_zone": "America/New_York",
                    "message_frequency": "Up to 8 msgs/month",
                    "support_contact": "help@novaray.example.com",
                    "help_text": "Questions about tickets? Reply here and the team answers.",
                    "welcome_text": "Welcome to the inner circle! First news drops Friday.",
                },
            )
            user_model = get_user_model()
            owner, user_created = user_model.objects.get_or_create(
                username=OWNER_USERNAME, defaults={"is_staff": True, "email": "owner@novaray.example.com"}
            )
            if user_created:
                owner.set_password(OWNER_PASSWORD)
                owner.save(update_fields=["password"])
            TeamMember.objects.get_or_create(user=owner, talent=talent, defaults={"role": TeamMember.Role.OWNER})
            for kind, title, summary in (
                (TermsDocument.Kind.TERMS, "Nova Ray Fan Club Terms of Use", TERMS_SUMMARY),
                (TermsDocument.Kind.PRIVACY, "Nova Ray Fan Club Privacy Policy", PRIVACY_SUMMARY),
            ):
                TermsDocument.objects.get_or_create(
                    talent=talent,
                    kind=kind,
                    version=1,
                    defaults={
                        "title": title,
                        "summary": summary,
                        "body": _full_text(title, summary),
                        "published_at": timezone.now(),
                    },
                )

        missing = DEMO_FANS - Fan.objects.filter(talent=talent, source=Fan.Source.DEMO).count()
        if missing > 0:
            call_command("generate_fans", talent=DEMO_SLUG, count=missing, stdout=self.stdout)
            _record_demo_consent(talent)
        self.stdout.write(
            f"demo talent '{talent.slug}' ready: {Fan.objects.filter(talent=talent).count():,} fans, "
            f"login {OWNER_USERNAME} / {OWNER_PASSWORD}" + (" (created)" if created else "")
        )


def _record_demo_consent(talent: Talent) -> None:
    """Synthetic active fans get synthetic consent evidence, labelled as such."""
    terms = TermsDocument.objects.filter(talent=talent, kind=TermsDocument.Kind.TERMS).order_by("-version").first()
    privacy = TermsDocument.objects.filter(talent=talent, kind=TermsDocument.Kind.PRIVACY).order_by("-version").first()
    fans = Fan.objects.filter(talent=talent, source=Fan.Source.DEMO).exclude(consents__isnull=False)
    records = []
    for fan_id, status, shares in fans.values_list("id", "status", "shares_with_partners").iterator():
        if status == Fan.Status.PENDING:
            continue
        common = {
            "fan_id": fan_id,
            "talent": talent,
            "method": ConsentRecord.Method.IMPORT,
            "terms": terms,
            "privacy": privacy,
            "evidence": "synthetic demo data",
        }
        records.append(ConsentRecord(purpose=ConsentRecord.Purpose.MESSAGING, action="granted", **common))
        if status == Fan.Status.OPTED_OUT:
            records.append(ConsentRecord(purpose=ConsentRecord.Purpose.MESSAGING, action="withdrawn", **common))
        if shares:
            records.append(ConsentRecord(purpose=ConsentRecord.Purpose.PARTNER_SHARING, action="granted", **common))
    ConsentRecord.objects.bulk_create(records, batch_size=2000)


def _full_text(title: str, summary: str) -> str:
    return (
        f"{title}\n\n{summary}\n\n"
        "1. Who we are. This programme is run by the talent's team on fancommunity, self-hosted software.\n"
        "2. What you agree to. Recurring automated marketing texts at the frequency stated. Consent is not a "
        "condition of any purchase. Msg & data rates may apply.\n"
        "3. Stopping. Reply STOP (or END, QUIT, CANCEL, UNSUBSCRIBE) to stop at once. Reply HELP for help.\n"
        "4. Your data. Text MYDATA for a link to see, download, correct or delete it. Nothing is shared with "
        "partners unless you ticked the separate sharing box.\n"
        "(Demo text: replace with your own reviewed terms before going live.)"
    )
