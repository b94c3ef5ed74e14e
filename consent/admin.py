"""Console pages for terms documents and (read-only) consent evidence."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction

from accounts.admin_scoping import ReadOnlyAdmin, TalentScopedAdmin
from consent.models import ConsentRecord, TermsDocument
from consent.services import terms_publish


@admin.register(TermsDocument)
class TermsDocumentAdmin(TalentScopedAdmin):
    edit_capability = "edit_terms"
    add_label = "Publish this version"  # published versions are never edited: a change is a new one
    list_display = ["__str__", "talent", "kind", "version", "is_material", "published_at"]
    list_filter = ["kind", "is_material"]
    list_select_related = ["talent"]
    fields = ["talent", "kind", "title", "summary", "body", "is_material", "version", "published_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.user.is_superuser or "talent" not in form.base_fields:
            return form
        # The talent is pinned while one talent is current; this is the rule itself, whatever the
        # page looks like: an empty talent means platform-wide, which only superusers may publish.
        form.base_fields["talent"].required = True
        form.base_fields["talent"].empty_label = None
        return form

    def get_readonly_fields(self, request, obj=None):
        # A published version is evidence fans agreed to: never edited. A change is a new version.
        if obj is not None:
            return self.fields
        return ["version", "published_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        # terms_publish refuses a platform-wide version from anyone but a superuser (PermissionDenied).
        document, fan_ids = terms_publish(
            talent=obj.talent,
            kind=obj.kind,
            title=obj.title,
            summary=obj.summary,
            body=obj.body,
            is_material=obj.is_material,
            actor=request.user,
        )
        obj.pk, obj.version, obj.published_at = document.pk, document.version, document.published_at
        obj._state.adding = False
        if fan_ids:
            from messaging.conversations.reconsent import reconsent_enqueue

            transaction.on_commit(lambda: reconsent_enqueue(fan_ids=fan_ids))
            self.message_user(
                request,
                f"Material change: partner sharing paused for {len(fan_ids)} fans until they agree again; "
                "each gets a text with a link.",
                messages.WARNING,
            )


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):  # evidence is written by services only, never edited by hand
    list_display = ["created_at", "fan", "talent", "purpose", "action", "method"]
    list_filter = ["purpose", "action", "method"]
    list_select_related = ["fan", "talent"]
    raw_id_fields = ["fan"]
    readonly_fields = [f.name for f in ConsentRecord._meta.fields]
