"""Operator: remove a console user's two-factor devices (a lost phone and lost recovery codes).

The user signs in with their password next time and, if a talent of theirs requires two-factor,
is sent straight to setting it up again. Audited.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import audit


class Command(BaseCommand):
    help = "Remove a console user's two-factor devices so they can set two-factor up again."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"no user {opts['username']!r}")
        with transaction.atomic():
            removed = (
                TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
            )
            audit("account.two_factor_reset", obj=user, removed=removed)
        self.stdout.write(f"{user.username}: {removed} two-factor device(s) removed.")
