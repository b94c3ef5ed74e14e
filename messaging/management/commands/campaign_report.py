"""manage.py campaign_report ID: the campaign's report as JSON (same figures as the console)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from messaging.campaigns.services import campaign_report
from messaging.models import Campaign


class Command(BaseCommand):
    help = "Print a campaign's report as JSON."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)

    def handle(self, *args, **options):
        campaign = Campaign.objects.filter(pk=options["campaign_id"]).first()
        if campaign is None:
            raise CommandError(f"no campaign with id {options['campaign_id']}")
        self.stdout.write(json.dumps(campaign_report(campaign=campaign), indent=2))
