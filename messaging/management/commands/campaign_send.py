"""manage.py campaign_send --talent SLUG --body TEXT [--audience NAME] [--at ISO] [--local-time HH:MM]
[--ignore-quiet-hours]: create and schedule a campaign through the console's services; prints its id."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Talent
from messaging.campaigns.services import campaign_schedule
from messaging.models import Campaign, ContactList, Segment


class Command(BaseCommand):
    help = "Create and schedule a campaign; prints its id."

    def add_arguments(self, parser):
        parser.add_argument("--talent", required=True, help="The talent's slug.")
        parser.add_argument("--body", required=True, help="Text with {first_name}, {city}, {link:https://...}.")
        parser.add_argument("--name", default="", help="Campaign name (default: the first words of the body).")
        parser.add_argument(
            "--audience", default="all", help="A segment or contact list name of the talent; 'all' = every active fan."
        )
        parser.add_argument("--media-url", default="", help="An image URL sent as MMS.")
        parser.add_argument("--at", default="", help="ISO date-time; without an offset, in the talent's zone.")
        parser.add_argument("--local-time", default="", help="HH:MM in each fan's own time zone.")
        parser.add_argument("--skip-late", action="store_true", help="With --local-time: skip fans whose time passed.")
        parser.add_argument("--ignore-quiet-hours", action="store_true", help="Not marketing: send in quiet hours.")

    def handle(self, *args, **options):
        talent = Talent.objects.filter(slug=options["talent"]).first()
        if talent is None:
            raise CommandError(f"--talent: no talent with slug {options['talent']!r}")
        segment = contact_list = None
        if options["audience"] != "all":
            name = options["audience"]
            segment = Segment.objects.filter(talent=talent, name=name).first()
            contact_list = None if segment else ContactList.objects.filter(talent=talent, name=name).first()
            if segment is None and contact_list is None:
                known = sorted(
                    [*Segment.objects.filter(talent=talent).values_list("name", flat=True)]
                    + [*ContactList.objects.filter(talent=talent).values_list("name", flat=True)]
                )
                raise CommandError(
                    f"--audience: {talent.slug} has no segment or list named {name!r}; "
                    f"use 'all' or one of: {', '.join(known) or '(none)'}"
                )
        if options["at"] and options["local_time"] and not _is_date(options["at"]):
            raise CommandError("--at with --local-time must be a date (YYYY-MM-DD): the day of the local time")
        fields: dict = {"schedule_mode": Campaign.ScheduleMode.NOW}
        if options["local_time"]:
            try:
                at = dt.time.fromisoformat(options["local_time"])
            except ValueError:
                raise CommandError(f"--local-time: expected HH:MM, got {options['local_time']!r}")
            day = dt.date.fromisoformat(options["at"]) if options["at"] else timezone.now().astimezone(talent.tz).date()
            fields = {
                "schedule_mode": Campaign.ScheduleMode.LOCAL_TIME,
                "local_date": day,
                "local_time": at,
                "late_policy": Campaign.LatePolicy.SKIP if options["skip_late"] else Campaign.LatePolicy.NEXT_ALLOWED,
            }
        elif options["at"]:
            try:
                when = dt.datetime.fromisoformat(options["at"])
            except ValueError:
                raise CommandError(f"--at: expected an ISO date-time like 2026-12-01T10:00, got {options['at']!r}")
            if timezone.is_naive(when):
                when = when.replace(tzinfo=talent.tz)
            fields = {"schedule_mode": Campaign.ScheduleMode.AT, "send_at": when}
        body = options["body"]
        name = options["name"] or (body[:60] + ("..." if len(body) > 60 else ""))
        try:
            with transaction.atomic():
                campaign = Campaign.objects.create(
                    talent=talent,
                    name=name,
                    body=body,
                    media_url=options["media_url"],
                    ignore_quiet_hours=options["ignore_quiet_hours"],
                    **fields,
                )
                if segment is not None:
                    campaign.include_segments.add(segment)
                if contact_list is not None:
                    campaign.include_lists.add(contact_list)
                campaign_schedule(campaign=campaign, actor=None)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages))
        except PermissionDenied as exc:
            raise CommandError(str(exc))
        self.stdout.write(str(campaign.pk))
        self.stderr.write(
            f"campaign {campaign.pk}: {campaign.get_status_display()}, send at {campaign.send_at.isoformat()}"
        )


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
        return "T" not in value and " " not in value
    except ValueError:
        return False
