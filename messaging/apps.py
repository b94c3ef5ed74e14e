from django.apps import AppConfig
from django.db.models.signals import post_migrate


def imported_fans_joined(*, batch, fan_ids: list[int]) -> None:
    """messaging/audience/imports.py JOINED_HOOKS: what the layers above do for imported joins."""
    from accounts import outbox
    from messaging.automations.series import series_enrol_imported

    outbox.emit_fans_joined(talent_id=batch.talent_id, fan_ids=fan_ids)
    series_enrol_imported(talent_id=batch.talent_id, fan_ids=fan_ids)


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        # Fail at start-up, with the variable's name, rather than at the first send.
        from django_q.signals import post_spawn

        from messaging import tasks
        from messaging.sms.backends import load_backend_class

        load_backend_class()
        # The one periodic dispatcher schedule exists after every `migrate` (idempotent).
        post_migrate.connect(tasks.ensure_periodic_schedules, sender=self, dispatch_uid="periodic_schedules")
        # Each task cluster's heartbeat schedule (issue 17: /healthz/strict reads the beats).
        post_migrate.connect(tasks.ensure_heartbeat_schedules, sender=self, dispatch_uid="heartbeat_schedules")
        # A restarted qcluster resumes sending at once instead of after the broker's retry period.
        post_spawn.connect(tasks.resume_on_worker_start, dispatch_uid="campaign_resume_on_start")

        from messaging import signals  # noqa: F401 - connects the receivers

        # Automations answer a fan's text on the priority lane, a layer above them (issue 14).
        from messaging.automations import replies
        from messaging.conversations.priority import priority_lane_kick, priority_message_queue

        replies.use_priority_lane(priority_message_queue, kick=priority_lane_kick)
        # A drop's release renders each fan's code as it leaves (issue 14): the engine's claim asks.
        from messaging.automations.drops import release_codes
        from messaging.sending.claim import FAN_VALUES

        FAN_VALUES.setdefault("code", release_codes)
        # ... and its confirmation and "you made it" keep a reference, filled as they leave the lane.
        from messaging.automations.codes import fill_bodies
        from messaging.conversations.priority import BODY_FILLS

        if fill_bodies not in BODY_FILLS:
            BODY_FILLS.append(fill_bodies)
        # ... and the fan's /me/ page lists the drops they may join and the ones they joined.
        from accounts.me_views import ME_SECTIONS
        from messaging.automations.fan_drops import me_drops_section

        if me_drops_section not in ME_SECTIONS:
            ME_SECTIONS.append(me_drops_section)

        # Issue 14/16: fans a CSV import made active get the fan.joined webhook and, where the live
        # welcome series says "also for fans added by import", the series; in the import's transaction.
        from messaging.audience.imports import JOINED_HOOKS

        if imported_fans_joined not in JOINED_HOOKS:
            JOINED_HOOKS.append(imported_fans_joined)

        # Issue 17: the composer's "how long will it take" comes from the sender pool's planner.
        from messaging.campaigns.services import SEND_PLANNERS
        from messaging.sending.plan import estimate_send_plan

        if estimate_send_plan not in SEND_PLANNERS:
            SEND_PLANNERS.append(estimate_send_plan)

        # Issue 12: "reachable" leaves out numbers the provider said can never receive a text; the
        # dead-number table belongs to the send engine, a layer above the audience counts.
        from django.db.models import Exists, OuterRef

        from messaging.audience import services as audience
        from messaging.sending.models import UndeliverableNumber

        def provider_dead():
            return Exists(UndeliverableNumber.objects.filter(talent_id=OuterRef("talent_id"), phone=OuterRef("phone")))

        if not audience.UNREACHABLE:
            audience.UNREACHABLE.append(provider_dead)

        # Issue 13: a campaign's poll (tally and themes) on its page and in its report; campaigns
        # sits below conversations, so the section registers itself here.
        from messaging.campaigns.reports import register_report_section
        from messaging.conversations.polls import POLL_SECTION

        register_report_section(POLL_SECTION)

        # Issue 17 §5: the archive's window check (messaging.E017) is registered on import.
        from messaging.sending import archive  # noqa: F401
