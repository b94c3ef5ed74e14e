"""Console page: the audit trail (read only)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import ReadOnlyAdmin
from accounts.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "talent", "actor", "object_type", "object_id"]
    list_filter = ["action"]
    list_select_related = ["talent", "actor"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
