"""Signal receivers of the messaging app."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Talent


@receiver(post_save, sender=Talent, dispatch_uid="messaging.talent_builtin_segment")
def talent_builtin_segment(sender, instance: Talent, created: bool, raw: bool = False, **kwargs) -> None:
    # Every talent has the built-in `all` segment from its first moment (campaigns default to it).
    if created and not raw:
        from messaging.audience.services import segment_ensure_builtin

        segment_ensure_builtin(talent=instance)


@receiver(post_save, sender=Talent, dispatch_uid="messaging.talent_routing_forget")
@receiver(post_delete, sender=Talent, dispatch_uid="messaging.talent_routing_forget_deleted")
def talent_routing_forget(sender, **kwargs) -> None:
    # The inbound webhook remembers number -> talent for a few seconds; a change applies at once here.
    from messaging.webhooks.inbound import forget_talents

    forget_talents()
