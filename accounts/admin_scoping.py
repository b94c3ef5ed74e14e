"""The base every console ModelAdmin builds on: rows scoped to the user's talents, role checks.

A team member must never see another talent's rows: querysets are filtered, object URLs of other
talents answer 404 (not the stock redirect), and foreign-key choices are limited to own talents.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404

from accounts import permissions
from accounts.paginators import CappedCountPaginator


class TalentScopedAdmin(admin.ModelAdmin):
    # Lookup from this model to its Talent ("talent", or e.g. "campaign__talent"). "" = the Talent itself.
    talent_lookup = "talent"
    view_capability = "view"
    edit_capability = "edit_audience"
    add_capability: str | None = None  # defaults to edit_capability
    delete_capability: str | None = None  # defaults to edit_capability
    show_full_result_count = False  # no second COUNT(*) over the whole table
    paginator = CappedCountPaginator  # no exact COUNT(*) over a million fans per page view
    list_per_page = 50

    # --- scoping ---------------------------------------------------------------------------
    def scope(self, request, queryset: QuerySet, capability: str | None = None) -> QuerySet:
        ids = permissions.talent_ids(request.user, capability or self.view_capability)
        if ids is None:
            return queryset
        return queryset.filter(**{f"{self.talent_lookup or 'id'}__in": ids})

    def get_queryset(self, request) -> QuerySet:
        return self.scope(request, super().get_queryset(request))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Another talent's row (or none at all): 404, never a hint that it exists.
            raise Http404("No such object in your talents.")
        return obj

    def talent_id_of(self, obj) -> int | None:
        if obj is None:
            return None
        if not self.talent_lookup:
            return obj.pk
        target = obj
        for part in self.talent_lookup.split("__"):
            target = getattr(target, part, None)
            if target is None:
                return None
        return target.pk

    # --- permissions -----------------------------------------------------------------------
    def _allowed(self, request, capability: str, obj=None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return permissions.can(user, capability, self.talent_id_of(obj) if obj is not None else None)

    def has_module_permission(self, request) -> bool:
        return self._allowed(request, self.view_capability)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.view_capability, obj) or self.has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.edit_capability, obj)

    def has_add_permission(self, request) -> bool:
        return self._allowed(request, self.add_capability or self.edit_capability)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.delete_capability or self.edit_capability, obj)

    # --- forms: only own talents (and their rows) to choose from ---------------------------
    def get_changeform_initial_data(self, request) -> dict:
        """A team member of one talent (the usual case) gets it preselected on every add form."""
        initial = super().get_changeform_initial_data(request)
        if "talent" not in initial and any(f.name == "talent" for f in self.model._meta.get_fields()):
            ids = permissions.talent_ids(request.user, self.add_capability or self.edit_capability)
            if ids is not None and len(ids) == 1:
                initial["talent"] = next(iter(ids))
        return initial

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None:
            field.queryset = scope_related(request, field.queryset, self.edit_capability)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None:
            field.queryset = scope_related(request, field.queryset, self.edit_capability)
        return field


def scope_related(request, queryset: QuerySet, capability: str) -> QuerySet:
    """Limit a related-model queryset (Talent, or any model with a `talent` FK) to the user's talents."""
    ids = permissions.talent_ids(request.user, capability)
    if ids is None:
        return queryset
    model = queryset.model
    if model._meta.label == "accounts.Talent":
        return queryset.filter(id__in=ids)
    if any(f.name == "talent" for f in model._meta.get_fields()):
        return queryset.filter(talent_id__in=ids)
    return queryset
