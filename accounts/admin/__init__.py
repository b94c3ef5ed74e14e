"""Console pages for talents, their team, their fans and the audit trail, one module an area:
`talents` (the talent's settings), `members` (the Team: members, roles, invites), `fans` (fans,
the held fans' decisions), `audit` (the audit trail). Importing this package registers every
accounts model admin (Django's autodiscover imports `accounts.admin`); the names the single module
had stay importable from here.
"""

from django.contrib import admin

from accounts.admin import audit, fans, members, talents  # noqa: F401  (registers them)
from accounts.admin.audit import AuditEventAdmin  # noqa: F401
from accounts.admin.fans import FanAdmin, opt_out_held, release_hold  # noqa: F401  (the old import paths)
from accounts.admin.members import InviteAdmin, InviteForm, TeamMemberAdmin, TeamMemberRoleForm  # noqa: F401
from accounts.admin.talents import PartnerInline, TalentAdmin, TalentForm, TeamMemberInline  # noqa: F401

# Issue 16: API tokens and outgoing-webhook pages (models in accounts, pages in their own module).
from fancommunity.webhooks_out import admin as _webhooks_out_admin

_webhooks_out_admin.register(admin.site)
