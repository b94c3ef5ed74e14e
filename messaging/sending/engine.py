"""The send path, one module a step: materialise, claim, send, record, sweep. This module is the
façade the rest of the project imports from; the steps live in their own modules.

Exactly once rests on four rules:
1. One OutboundMessage row per (campaign, fan), unique in the database, created before any send
   (materialise.py).
2. A worker sends only rows it claimed (select_for_update(skip_locked) + a lease with a token)
   (claim.py).
3. A worker stops starting sends well before its lease ends, so an expired lease means the
   worker is dead; the sweeper then asks the provider whether each row was sent before it lets the
   row be sent again. A timeout after the request left is UNCERTAIN: reconciled, never resent
   blindly (send.py, sweep.py).
4. Results are recorded against the claim token, and statuses only move forward (record.py).

Every database operation of the claim, STOP re-check, rate reservation, backlog and record is
written once (sql.py explains how) and run by the sync services here or by the pipeline's doors.
"""

from __future__ import annotations

from messaging.sending.claim import (
    CLAIM_FIELDS,
    Batch,
    ClaimContext,
    ClaimedRow,
    ClaimPlan,
    batch_limit,
    campaign_claim_batch,
    claim_statements,
    make_batch,
    plan_claim,
    stopped_fans,
)
from messaging.sending.materialise import CAP_COUNTED, Materialised, campaign_materialise, campaign_start
from messaging.sending.record import (
    RunReport,
    _add_counts,
    apply_error_effects,
    batch_record,
    campaign_pause_for_filtering,
    outcome_counts,
    outcome_errors,
    record_statements,
)
from messaging.sending.send import (
    RETRY_DELAYS,
    STOP_RECHECK_SECONDS,
    THROTTLE_CODES,
    Outcome,
    _reserve,
    _send_rows,
    batch_send,
    send_window,
    status_callback_url,
)
from messaging.sending.sweep import (
    UNKNOWN,
    campaign_has_due_rows,
    campaign_maybe_complete,
    campaign_sweep,
    provider_lookup,
)
from messaging.sms.backends import SmsMessage
from messaging.sms.errors import FILTERED_CODES, OPT_OUT_CODES, UNDELIVERABLE_CODES

__all__ = [
    "CAP_COUNTED",
    "CLAIM_FIELDS",
    "FILTERED_CODES",
    "OPT_OUT_CODES",
    "RETRY_DELAYS",
    "STOP_RECHECK_SECONDS",
    "THROTTLE_CODES",
    "UNDELIVERABLE_CODES",
    "UNKNOWN",
    "Batch",
    "ClaimContext",
    "ClaimPlan",
    "ClaimedRow",
    "Materialised",
    "Outcome",
    "RunReport",
    "SmsMessage",
    "_add_counts",
    "_reserve",
    "_send_rows",
    "apply_error_effects",
    "batch_limit",
    "batch_record",
    "batch_send",
    "campaign_claim_batch",
    "campaign_has_due_rows",
    "campaign_materialise",
    "campaign_maybe_complete",
    "campaign_pause_for_filtering",
    "campaign_start",
    "campaign_sweep",
    "claim_statements",
    "make_batch",
    "outcome_counts",
    "outcome_errors",
    "plan_claim",
    "provider_lookup",
    "record_statements",
    "send_window",
    "status_callback_url",
    "stopped_fans",
]
