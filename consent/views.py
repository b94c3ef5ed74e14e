"""Public pages for terms documents: every published version stays readable at its own URL."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.models import Talent
from consent.models import TermsDocument
from consent.services import privacy_facts, terms_current


@require_GET
def document(request: HttpRequest, slug: str, kind: str, version: int) -> HttpResponse:
    talent = get_object_or_404(Talent, slug=slug, is_active=True)
    doc = TermsDocument.objects.filter(
        kind=kind, version=version, published_at__isnull=False, talent=talent
    ).first() or get_object_or_404(
        TermsDocument, kind=kind, version=version, published_at__isnull=False, talent__isnull=True
    )
    return render(request, "consent/document.html", {"talent": talent, "doc": doc})


@require_GET
def privacy(request: HttpRequest, slug: str) -> HttpResponse:
    """The talent's public privacy page: fields collected and why, how long things are kept, who
    on the team sees them, and the named partners (who get data only from fans who opted in)."""
    talent = get_object_or_404(Talent, slug=slug, is_active=True)
    context = {
        "talent": talent,
        "facts": privacy_facts(talent=talent),
        "policy": terms_current(talent=talent, kind=TermsDocument.Kind.PRIVACY),
    }
    return render(request, "consent/privacy.html", context)
