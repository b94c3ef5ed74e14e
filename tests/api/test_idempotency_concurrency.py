"""Two requests with one Idempotency-Key at the same moment: one write, one answer (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from messaging.models import ContactList
from tests.api.conftest import bearer

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_concurrent_retries_with_one_key_create_once(personas, make_token):
    _, raw, _ = make_token(["audience:write", "audience:read"])
    answers: list = []
    barrier = threading.Barrier(4)

    def post() -> None:
        try:
            barrier.wait()
            response = bearer(raw).post(
                "/api/v1/lists/", {"name": "drop"}, format="json", HTTP_IDEMPOTENCY_KEY="race-1"
            )
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert ContactList.objects.filter(name="drop").count() == 1
    assert len(answers) == 4 and {code for code, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1
