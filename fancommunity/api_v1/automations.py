"""Saving and pausing a keyword for the API: the thin workflow the console's keyword page does
inline (its ModelForm saves, its list action pauses with one UPDATE).

messaging/automations/keywords.py has no save or pause service yet (the console's KeywordAdmin
saves through the ModelForm), so this is the API's side of the same steps, kept thin: the rules
(the word and its aliases, the platform words, another keyword's words) stay in
`keywords.keyword_words_clean`, called by the serializer. Drops have their services
(`drops.drop_save`, `drops.drop_set_paused`) and the API calls those. When automations grows a
keyword_save, the views should call it and this module goes.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from accounts import permissions
from accounts.audit import audit
from messaging.automations.keyword_models import Keyword


def _require(actor, talent_id: int) -> None:
    if not permissions.can(actor, "compose", talent_id):
        raise PermissionDenied("Your role on this talent does not allow that.")


def keyword_save(*, keyword: Keyword, tags, actor) -> Keyword:
    """Create or change a keyword (validated by the serializer) and its tags, in one transaction."""
    _require(actor, keyword.talent_id)
    creating = keyword.pk is None
    try:
        with transaction.atomic():
            keyword.save()
            if tags is not None:
                keyword.tags.set(tags)
            audit(
                "automation.keyword_created" if creating else "automation.keyword_changed",
                talent=keyword.talent,
                actor=actor,
                obj=keyword,
            )
    except IntegrityError:
        # Two requests saving the same word at once: the unique (talent, word) constraint decides.
        raise ValidationError({"word": f"{keyword.word.upper()} is already used by another keyword."})
    return keyword


def keyword_set_paused(*, keyword: Keyword, paused: bool, actor) -> Keyword:
    """As the console's "Pause the selected keywords": one UPDATE; a paused keyword's texts reach the inbox."""
    _require(actor, keyword.talent_id)
    with transaction.atomic():
        Keyword.objects.filter(pk=keyword.pk).update(is_paused=paused)
        keyword.is_paused = paused
        audit(
            "automation.keyword_paused" if paused else "automation.keyword_resumed",
            talent=keyword.talent,
            actor=actor,
            obj=keyword,
        )
    return keyword
