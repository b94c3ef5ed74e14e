"""Stand-in for messaging.audience.audience_queryset until the audience branch is merged.

Same signature; ignores lists and segments and returns every active fan of the talent. Swapping
is one import line in messaging/services/campaigns.py (see AUDIENCE_IMPORT there).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from accounts.models import Fan, Talent


def audience_queryset(
    *,
    talent: Talent,
    include_lists: Iterable = (),
    include_segments: Iterable = (),
    exclude_lists: Iterable = (),
    exclude_segments: Iterable = (),
) -> QuerySet[Fan]:
    return Fan.objects.filter(talent=talent, status=Fan.Status.ACTIVE)
