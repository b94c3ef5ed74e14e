"""create_* helpers for tests: explicit, few defaults, no magic."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Fan, Talent, TeamMember
from consent.models import TermsDocument

_seq = itertools.count(1)


def create_talent(slug: str | None = None, **fields) -> Talent:
    n = next(_seq)
    slug = slug or f"talent{n}"
    defaults = {
        "display_name": slug.replace("-", " ").title(),
        "program_name": f"{slug.title()} Fan Club",
        "sender_number": f"+1500555{n:04d}",
        "parts_per_second": 100,
        "support_contact": f"help@{slug}.example.com",
    }
    defaults.update(fields)
    return Talent.objects.create(slug=slug, **defaults)


def create_user(username: str | None = None, *, staff: bool = True, superuser: bool = False, password: str = "pw"):
    username = username or f"user{next(_seq)}"
    User = get_user_model()
    user = User.objects.create_user(
        username=username,
        password=password,
        email=f"{username}@example.com",
        is_staff=staff or superuser,
        is_superuser=superuser,
    )
    user.raw_password = password
    return user


def create_member(talent: Talent, role: str = TeamMember.Role.MANAGER, username: str | None = None) -> TeamMember:
    return TeamMember.objects.create(user=create_user(username), talent=talent, role=role)


def create_fan(talent: Talent, phone: str | None = None, **fields) -> Fan:
    n = next(_seq)
    if phone is None:
        # The sequence is per process (one per xdist worker) and wraps: skip a number the talent
        # already has (the personas' fixed +14155550101 was hit when a worker's count reached 101).
        phone = f"+1415555{n % 10000:04d}"
        while Fan.objects.filter(talent=talent, phone=phone).exists():
            n = next(_seq)
            phone = f"+1415555{n % 10000:04d}"
    defaults = {
        "phone": phone,
        "first_name": f"Fan{n}",
        "last_name": "Tester",
        "country": "US",
        "time_zone": "America/Los_Angeles",
        "status": Fan.Status.ACTIVE,
        "joined_at": timezone.now(),
        "birth_date": dt.date(1995, 5, 17),
    }
    defaults.update(fields)
    return Fan.objects.create(talent=talent, **defaults)


def create_terms(talent: Talent | None, kind: str = TermsDocument.Kind.TERMS, version: int = 1, **fields):
    defaults = {
        "title": f"{kind.title()} v{version}",
        "summary": "We text you about the talent. We never share your data unless you say so.",
        "body": "Full text of the document.",
        "published_at": timezone.now(),
    }
    defaults.update(fields)
    return TermsDocument.objects.create(talent=talent, kind=kind, version=version, **defaults)
