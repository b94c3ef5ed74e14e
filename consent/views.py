"""Public pages for terms documents: every published version stays readable at its own URL."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.models import Talent
from consent.models import TermsDocument


@require_GET
def document(request: HttpRequest, slug: str, kind: str, version: int) -> HttpResponse:
    talent = get_object_or_404(Talent, slug=slug, is_active=True)
    doc = TermsDocument.objects.filter(
        kind=kind, version=version, published_at__isnull=False, talent=talent
    ).first() or get_object_or_404(
        TermsDocument, kind=kind, version=version, published_at__isnull=False, talent__isnull=True
    )
    return render(request, "consent/document.html", {"talent": talent, "doc": doc})
