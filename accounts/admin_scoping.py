"""The base every console ModelAdmin builds on: rows scoped to the user's talents, role checks.

A team member must never see another talent's rows: querysets are filtered, object URLs of other
talents answer 404 (not the stock redirect), and foreign-key choices are limited to own talents.

One talent at a time (accounts/current_talent.py): every queryset, count, choice and permission
below is narrowed to the talent chosen in the header's switcher. While one talent is current, forms
carry no talent dropdown: the field is pinned (hidden, disabled) to the current talent, so a forged
POST cannot put a row into another talent. A superuser looking at "all talents" keeps the dropdown.

The base class is unfold's ModelAdmin, so every console page gets the theme's widgets and templates.
"""

from __future__ import annotations

import functools

from django import forms
from django.contrib.admin import display, helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import Http404
from django.utils.html import escape
from django.utils.safestring import mark_safe
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import checkbox as unfold_checkbox
from unfold.templatetags import unfold_list

from accounts import current_talent
from accounts.actors import allows
from accounts.models import Talent
from accounts.paginators import CappedCountPaginator


class TalentScopedAdmin(UnfoldModelAdmin):
    # Lookup from this model to its Talent ("talent", or e.g. "campaign__talent"). "" = the Talent itself.
    talent_lookup = "talent"
    view_capability = "view"
    edit_capability = "edit_audience"
    add_capability: str | None = None  # defaults to edit_capability
    delete_capability: str | None = None  # defaults to edit_capability
    show_full_result_count = False  # no second COUNT(*) over the whole table
    # The change form's buttons in the team's words (templates/admin/submit_line.html reads them):
    # "Create list" on the add form, "Save list" after. Empty: "Create <thing>" / "Save <thing>".
    add_label = ""
    save_label = ""
    # "Save and add another" is for typing in rows one after the other; no console page is that,
    # so it is off unless a page turns it on (and then names what it adds).
    save_and_add_another = False
    paginator = CappedCountPaginator  # no exact COUNT(*) over a million fans per page view
    list_per_page = 50
    # unfold's changelist template reads `model_admin.list_sections` twice a row; a missing
    # attribute sends Django's template lookup down its error path, which calls dir() on the admin
    # (~0.3 ms each, 100 a page). Declared empty: the same page, without the cost.
    list_sections: list = []

    # --- scoping ---------------------------------------------------------------------------
    def scope(self, request, queryset: QuerySet, capability: str | None = None) -> QuerySet:
        ids = current_talent.talent_ids(request, capability or self.view_capability)
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
        # Without an object, the question is about the current talent (None: any of the user's).
        talent_id = self.talent_id_of(obj) if obj is not None else current_talent.current_id(request)
        # One answer per (user, capability, talent) per request: the menu alone asks ~130 times a
        # page (every model's view/change/add), the same few questions (bench_tables: the shell).
        memo = request.__dict__.setdefault("_fc_allowed", {})
        key = (user.pk, capability, talent_id)
        if key not in memo:
            memo[key] = allows(user, capability, talent_id)
        return memo[key]

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

    @display(description=mark_safe(unfold_checkbox.render("action_toggle_all", 1)))
    def action_checkbox(self, obj) -> str:
        # The stock one renders a widget through the template engine for every row (~2 ms each,
        # half of a 50-row changelist's time, measured by bench/bench_tables.py); the markup
        # differs only by the pk, so it is rendered once and the pk substituted.
        return mark_safe(_checkbox_markup().replace(_PK_MARK, escape(str(obj.pk))))  # noqa: S308 - pk escaped

    def changelist_view(self, request, extra_context=None):
        from messaging.console.sidebar import page_title  # the menu's words ("Inbox"), one table of them

        return super().changelist_view(request, {"title": page_title(self.opts), **(extra_context or {})})

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if current_talent.current_id(request) is not None and "talent" in columns:
            columns = [c for c in columns if c != "talent"]  # one talent on screen: the column says nothing
        return columns

    def submit_labels(self, obj) -> dict[str, str]:
        noun = str(self.model._meta.verbose_name)
        return {
            "save": (self.save_label or f"Save {noun}") if obj is not None else (self.add_label or f"Create {noun}"),
            "continue": "Save and keep editing",
            "view": "Save and view",
            "add_another": f"Save and add another {noun}",
        }

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.setdefault("show_save_and_add_another", self.save_and_add_another)
        editable = any(
            not field.is_readonly for fieldset in context["adminform"] for line in fieldset for field in line
        )
        if change and not editable and not context.get("inline_admin_formsets"):
            # Nothing on the page can be edited (a sent campaign, a published version): no Save
            # button that saves nothing, only Close.
            context.setdefault("show_save", False)
            context.setdefault("show_save_and_continue", False)
        context["submit_labels"] = self.submit_labels(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- forms: only own talents (and their rows) to choose from ---------------------------
    def get_changeform_initial_data(self, request) -> dict:
        """A team member of one talent (the usual case) gets it preselected on every add form."""
        initial = super().get_changeform_initial_data(request)
        if "talent" not in initial and any(f.name == "talent" for f in self.model._meta.get_fields()):
            ids = current_talent.talent_ids(request, self.add_capability or self.edit_capability)
            if ids is not None and len(ids) == 1:
                initial["talent"] = next(iter(ids))
        return initial

    def _pinned_talent_id(self, request) -> int | None:
        """The current talent when this model's rows carry a `talent` field to pin, else None."""
        if self.talent_lookup != "talent":
            return None
        return current_talent.current_id(request)

    def get_fieldsets(self, request, obj=None):
        return drop_talent(super().get_fieldsets(request, obj), self._pinned_talent_id(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        talent_id = self._pinned_talent_id(request)
        if talent_id is not None:
            # The page shows no talent row (get_fieldsets), but the form keeps the field, pinned, so
            # clean() methods and unique (talent, ...) checks see the current talent.
            if "fields" not in kwargs:  # as ModelAdmin.get_form would, from the fieldsets
                kwargs["fields"] = flatten_fieldsets(self.get_fieldsets(request, obj))
            if kwargs["fields"] is not None and "talent" not in kwargs["fields"]:
                kwargs["fields"] = [*kwargs["fields"], "talent"]
        form = super().get_form(request, obj, change=change, **kwargs)
        if talent_id is not None and "talent" in form.base_fields:
            form = pin_talent(form, talent_id)
        return form

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


class OneEditRule:
    """For a page or an inline where adding, changing and deleting are one decision: `may_edit`
    (by default nobody). The signatures take `obj` optionally, so it serves ModelAdmin (whose
    has_add_permission has none) and inlines alike."""

    def may_edit(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request, obj=None) -> bool:
        return self.may_edit(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.may_edit(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.may_edit(request, obj)


class ReadOnlyAdmin(OneEditRule, TalentScopedAdmin):
    """A page that only shows: evidence and logs the services write (audit events, consent
    records, the export log). Nobody adds, edits or deletes them by hand, superusers included."""


_PK_MARK = "__fc_row_pk__"


def _headers_once_per_changelist(result_headers):
    """unfold 0.91's items_for_result recomputes every column header for every row (label
    lookups plus a template-rendered "select all" checkbox, ~2 ms a row). Headers depend only on
    the changelist, and unfold only reads them: compute them once per changelist. Remove when
    unfold stops doing it (the bench_tables figures say)."""

    @functools.wraps(result_headers)
    def headers(cl):
        cached = getattr(cl, "_fc_result_headers", None)
        if cached is None:
            cached = list(result_headers(cl))
            cl._fc_result_headers = cached
        return iter(cached)

    return headers


if not hasattr(unfold_list.result_headers, "__wrapped__"):
    unfold_list.result_headers = _headers_once_per_changelist(unfold_list.result_headers)


@functools.cache
def _checkbox_markup() -> str:
    return str(unfold_checkbox.render(helpers.ACTION_CHECKBOX_NAME, _PK_MARK))


def drop_talent(fieldsets, talent_id: int | None):
    """Fieldsets without the talent row while one talent is current (the header names it)."""
    if talent_id is None:
        return fieldsets

    def keep(fields):
        kept = []
        for field in fields:
            if isinstance(field, list | tuple):
                field = type(field)(f for f in field if f != "talent")
                if field:
                    kept.append(field)
            elif field != "talent":
                kept.append(field)
        return kept

    return [(name, {**options, "fields": keep(options["fields"])}) for name, options in fieldsets]


def pinned_talent_field(talent_id: int) -> forms.ModelChoiceField:
    """The talent field of a form while one talent is current: hidden, and disabled, so the value
    always comes from the server (Django ignores a disabled field's POSTed value)."""
    return forms.ModelChoiceField(
        queryset=Talent.objects.filter(pk=talent_id),
        widget=forms.HiddenInput,
        disabled=True,
        initial=talent_id,
    )


def pin_talent(form_class: type[forms.BaseForm], talent_id: int) -> type[forms.BaseForm]:
    """A subclass of `form_class` whose talent is the current one (see pinned_talent_field)."""

    def __init__(self, *args, **kwargs):
        form_class.__init__(self, *args, **kwargs)
        self.initial["talent"] = talent_id  # a disabled field takes its value from the initial data
        instance = getattr(self, "instance", None)
        if instance is not None and getattr(instance, "talent_id", None) is None:
            instance.talent_id = talent_id  # clean() methods that read instance.talent see it too

    pinned = type(form_class)(form_class.__name__, (form_class,), {"__init__": __init__})
    pinned.base_fields = {**form_class.base_fields, "talent": pinned_talent_field(talent_id)}
    return pinned


def scope_related(request, queryset: QuerySet, capability: str) -> QuerySet:
    """Limit a related-model queryset (Talent, or any model with a `talent` FK) to the current talent."""
    ids = current_talent.talent_ids(request, capability)
    if ids is None:
        return queryset
    model = queryset.model
    if model._meta.label == "accounts.Talent":
        return queryset.filter(id__in=ids)
    if any(f.name == "talent" for f in model._meta.get_fields()):
        return queryset.filter(talent_id__in=ids)
    return queryset
