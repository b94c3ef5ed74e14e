"""Console pages for terms documents and (read-only) consent evidence."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import TalentScopedAdmin
from consent.models import ConsentRecord, TermsDocument


@admin.register(TermsDocument)
class TermsDocumentAdmin(TalentScopedAdmin):
    edit_capability = "edit_terms"
    list_display = ["__str__", "talent", "kind", "version", "is_material", "published_at"]
    list_filter = ["kind", "is_material"]
    list_select_related = ["talent"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(TalentScopedAdmin):
    list_display = ["created_at", "fan", "talent", "purpose", "action", "method"]
    list_filter = ["purpose", "action", "method"]
    list_select_related = ["fan", "talent"]
    raw_id_fields = ["fan"]
    readonly_fields = [f.name for f in ConsentRecord._meta.fields]

    # Evidence is written by services only, never edited by hand.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
