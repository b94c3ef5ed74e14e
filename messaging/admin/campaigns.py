"""Console pages for campaigns."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import TalentScopedAdmin
from messaging.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(TalentScopedAdmin):
    edit_capability = "compose"
    list_display = ["name", "talent", "status", "send_at", "created_at"]
    list_filter = ["status"]
    list_select_related = ["talent"]
    readonly_fields = ["status", "created_by"]
    filter_horizontal = ["include_lists", "exclude_lists", "include_segments", "exclude_segments"]
