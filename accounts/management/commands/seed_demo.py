"""manage.py seed_demo: the demo talent, its team, terms, ~2,000 synthetic fans, and something in
every console page: tags, lists, a segment, a finished campaign with deliveries, clicks and
replies (one answered by the team), a pending invite.

Idempotent: a second run changes nothing that is already there (make run calls it every time).
Rows are written directly (nothing is sent): the console SMS backend would print a blast.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Fan, Invite, Talent, TeamMember
from consent.models import ConsentRecord, TermsDocument
from messaging.audience.models import ContactList, ContactListMember, FanTag, Segment, Tag
from messaging.campaigns.models import Campaign, Click, TrackedLink
from messaging.campaigns.render import link_url
from messaging.conversations import services as conversations
from messaging.sms.models import InboundMessage, OutboundMessage

DEMO_SLUG = "demo"
OWNER_USERNAME = "owner"
OWNER_PASSWORD = "fancommunity-demo"  # printed by `make run`; a demo login, never a production one
DEMO_FANS = 2000
DEMO_CAMPAIGN = "Spring tour presale"
TEAMMATES = [
    ("maya@novaray.example.com", "Maya", TeamMember.Role.MANAGER),
    ("ari@novaray.example.com", "Ari", TeamMember.Role.AGENT),
]

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
        with transaction.atomic():
            _seed_team(talent, owner)
            _seed_audience(talent)
            _seed_campaign(talent, owner)
            _seed_automations(talent, owner)
        self.stdout.write(
            f"demo talent '{talent.slug}' ready: {Fan.objects.filter(talent=talent).count():,} fans, "
            f"login {OWNER_USERNAME} / {OWNER_PASSWORD}" + (" (created)" if created else "")
        )


def _seed_team(talent: Talent, owner) -> None:
    """Two teammates (same demo password) and one invite waiting, so the Team pages show each case."""
    user_model = get_user_model()
    for email, first_name, role in TEAMMATES:
        user, created = user_model.objects.get_or_create(
            username=email, defaults={"email": email, "first_name": first_name, "is_staff": True}
        )
        if created:
            user.set_password(OWNER_PASSWORD)
            user.save(update_fields=["password"])
        TeamMember.objects.get_or_create(user=user, talent=talent, defaults={"role": role})
    if not Invite.objects.filter(talent=talent).exists():
        Invite.objects.create(
            talent=talent,
            email="sam@novaray.example.com",
            role=TeamMember.Role.ANALYST,
            invited_by=owner,
            expires_at=timezone.now() + dt.timedelta(days=7),
        )


def _demo_fans(talent: Talent, count: int, offset: int = 0) -> list[int]:
    ids = Fan.objects.filter(talent=talent, source=Fan.Source.DEMO, status=Fan.Status.ACTIVE).order_by("id")
    return list(ids.values_list("id", flat=True)[offset : offset + count])


def _seed_audience(talent: Talent) -> None:
    for name, offset, count in (("VIP", 0, 60), ("Presale buyer", 40, 150), ("Merch", 300, 90)):
        tag, _ = Tag.objects.get_or_create(talent=talent, name=name)
        FanTag.objects.bulk_create(
            [FanTag(tag=tag, fan_id=i) for i in _demo_fans(talent, count, offset)], ignore_conflicts=True
        )
    for name, description, offset, count in (
        ("Street team", "Fans who hand out flyers at shows.", 0, 120),
        ("Newsletter import", "Imported from the old mailing list's SMS column.", 500, 400),
    ):
        contact_list, _ = ContactList.objects.get_or_create(
            talent=talent, name=name, defaults={"description": description}
        )
        ContactListMember.objects.bulk_create(
            [ContactListMember(contact_list=contact_list, fan_id=i) for i in _demo_fans(talent, count, offset)],
            ignore_conflicts=True,
        )
    if not Segment.objects.filter(talent=talent, name="West coast").exists():
        Segment.objects.create(
            talent=talent,
            name="West coast",
            description="Fans in Pacific time, for the LA and Seattle dates.",
            definition={"all": [{"field": "time_zone", "op": "in", "value": ["America/Los_Angeles"]}]},
        )


def _seed_automations(talent: Talent, owner) -> None:
    """A keyword (TOUR: onto the street team's list, tagged, answered) and a live two-step welcome
    series, so Automations has something in it and a fan who joins during `make run` is welcomed."""
    from messaging.automations.keyword_models import Keyword
    from messaging.automations.series import series_go_live
    from messaging.automations.series_models import WelcomeSeries, WelcomeStep

    if not Keyword.objects.filter(talent=talent, word="tour").exists():
        keyword = Keyword.objects.create(
            talent=talent,
            word="tour",
            aliases="tickets, gira",
            add_to_list=ContactList.objects.get(talent=talent, name="Street team"),
            reply="Tour dates and presale codes land here first. Reply with your city to be told when we play it.",
        )
        keyword.tags.set(Tag.objects.filter(talent=talent, name="Presale buyer"))
    if not WelcomeSeries.objects.filter(talent=talent).exists():
        series = WelcomeSeries.objects.create(talent=talent, name="Welcome to the club")
        WelcomeStep.objects.create(
            series=series,
            position=1,
            delay_minutes=10,
            body="Hi {first_name}! Reply any time: the team reads every text.",
        )
        WelcomeStep.objects.create(
            series=series, position=2, delay_minutes=24 * 60, body="Tomorrow's news first: text TOUR for the dates."
        )
        series_go_live(series=series, actor=owner)


def _seed_campaign(talent: Talent, owner) -> None:
    """A campaign that went to the street team two days ago: delivered, a few failed, clicks, replies."""
    if Campaign.objects.filter(talent=talent, name=DEMO_CAMPAIGN).exists():
        return
    street_team = ContactList.objects.get(talent=talent, name="Street team")
    started = timezone.now() - dt.timedelta(days=2)
    url = "https://example.com/tickets/spring-tour"
    fans = list(Fan.objects.filter(list_memberships__contact_list=street_team, status=Fan.Status.ACTIVE).order_by("id"))
    campaign = Campaign.objects.create(
        talent=talent,
        name=DEMO_CAMPAIGN,
        body="Hi {first_name}! Spring tour presale is open for 48 h: {link:" + url + "} Reply STOP to opt out.",
        status=Campaign.Status.COMPLETED,
        created_by=owner,
        scheduled_by=owner,
        estimated_recipients=len(fans),
        recipients_count=len(fans),
        started_at=started,
        finished_at=started + dt.timedelta(minutes=2),
    )
    campaign.include_lists.add(street_team)
    link = TrackedLink.objects.create(campaign=campaign, url=url)
    messages = []
    for n, fan in enumerate(fans):
        failed = n % 25 == 24
        messages.append(
            OutboundMessage(
                talent=talent,
                fan=fan,
                campaign=campaign,
                kind=OutboundMessage.Kind.CAMPAIGN,
                to_number=str(fan.phone),
                body="",  # rendered below, once the row has the id its tracked link carries
                status=OutboundMessage.Status.UNDELIVERED if failed else OutboundMessage.Status.DELIVERED,
                error_code="30003" if failed else "",
                provider_sid=f"SMdemo{campaign.pk:06d}{n:020d}",
                attempts=1,
                not_before=started,
                sent_at=started + dt.timedelta(seconds=n),
            )
        )
    OutboundMessage.objects.bulk_create(messages)
    if any(m.pk is None for m in messages):  # a database that returns no ids from bulk_create
        messages = list(OutboundMessage.objects.filter(campaign=campaign).select_related("fan").order_by("id"))
    for message in messages:
        message.body = (
            f"Hi {message.fan.first_name}! Spring tour presale is open for 48 h: "
            f"{link_url(link.code, message.pk)} Reply STOP to opt out."
        )
    OutboundMessage.objects.bulk_update(messages, ["body"], batch_size=500)
    delivered = [m for m in messages if m.status == OutboundMessage.Status.DELIVERED]
    clicked = delivered[::3]
    Click.objects.bulk_create([Click(link=link, message=m, fan=m.fan) for m in clicked])
    replies = [
        "Got my tickets!! See you in Austin",
        "Is there a VIP soundcheck this time?",
        "Presale code didn't work for me :(",
        "Any dates in Canada?",
        "Love this, thank you Nova",
        "Can I bring my kid (9)?",
    ]
    inbound = []
    for n, (message, text) in enumerate(zip(delivered[1::7], replies, strict=False)):
        inbound.append(
            InboundMessage(
                talent=talent,
                fan=message.fan,
                message_sid=f"SMdemoreply{campaign.pk:06d}{n:015d}",
                from_number=message.to_number,
                to_number=str(talent.sender_number),
                body=text,
                processed_at=started + dt.timedelta(minutes=10 + n),
                action=InboundMessage.Action.INBOX,
                needs_reply=n != 1,
            )
        )
    InboundMessage.objects.bulk_create(inbound)
    # received_at is auto_now_add: move the replies back to just after the campaign.
    for n, row in enumerate(inbound):
        InboundMessage.objects.filter(pk=row.pk).update(received_at=started + dt.timedelta(minutes=9 + n))
    # The inbox is conversations (issue 13): each reply still waiting opens its fan's conversation.
    for row in InboundMessage.objects.filter(pk__in=[r.pk for r in inbound], needs_reply=True).exclude(
        pk=inbound[1].pk
    ):
        conversations.on_real_reply(row)
    answered = inbound[1]
    OutboundMessage.objects.create(
        talent=talent,
        fan=answered.fan,
        kind=OutboundMessage.Kind.REPLY,
        to_number=answered.from_number,
        body="Yes! VIP soundcheck tickets go on sale Thursday at 10am. -Team Nova",
        status=OutboundMessage.Status.DELIVERED,
        provider_sid=f"SMdemoanswer{campaign.pk:06d}",
        sent_by=owner,
        sent_at=started + dt.timedelta(minutes=30),
    )
    InboundMessage.objects.filter(pk=answered.pk).update(answered_at=started + dt.timedelta(minutes=30))
    Fan.objects.filter(pk__in=[m.fan_id for m in messages]).update(last_sent_at=started)
    Fan.objects.filter(pk__in=[m.fan_id for m in clicked]).update(last_click_at=started + dt.timedelta(minutes=5))
    Fan.objects.filter(pk__in=[r.fan_id for r in inbound]).update(last_reply_at=started + dt.timedelta(minutes=10))


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
