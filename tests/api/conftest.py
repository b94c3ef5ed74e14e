"""Fixtures for the v1 API: tokens of named personas, a client per token."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.api_tokens import SCOPES, token_create
from consent.models import TermsDocument
from tests.factories import create_terms

ALL_SCOPES = sorted(SCOPES)


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def make_token(personas):
    """make_token(scopes=[...], talent=..., owner=...) -> (token row, raw token, client)."""

    def make(scopes=None, *, talent=None, owner=None, **kwargs):
        talent = talent or personas.talent
        owner = owner or personas.owner
        token, raw = token_create(
            talent=talent, actor=owner, name="test", scopes=scopes or ALL_SCOPES, expires_at=kwargs.get("expires_at")
        )
        return token, raw, bearer(raw)

    return make


@pytest.fixture
def api(make_token):
    """A client with an all-scopes token of Nova (personas.talent)."""
    return make_token()[2]


@pytest.fixture
def terms(personas):
    return (
        create_terms(personas.talent, TermsDocument.Kind.TERMS),
        create_terms(personas.talent, TermsDocument.Kind.PRIVACY),
    )
