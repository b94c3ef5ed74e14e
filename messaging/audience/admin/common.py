"""What the audience pages share: one form page (admin/messaging/audience_form.html)."""

from __future__ import annotations

from django.template.response import TemplateResponse


def render_form(request, modeladmin, title: str, form, *, submit: str, original=None, **extra) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "form": form,
        "submit_label": submit,
        "original": original,
        **extra,
    }
    return TemplateResponse(request, "admin/messaging/audience_form.html", context)
