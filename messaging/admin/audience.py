"""Console pages for contact lists and segments."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import TalentScopedAdmin
from messaging.models import ContactList, Segment


@admin.register(ContactList)
class ContactListAdmin(TalentScopedAdmin):
    list_display = ["name", "talent", "created_at"]
    list_select_related = ["talent"]
    exclude = ["fans"]


@admin.register(Segment)
class SegmentAdmin(TalentScopedAdmin):
    list_display = ["name", "talent", "is_builtin", "updated_at"]
    list_select_related = ["talent"]
