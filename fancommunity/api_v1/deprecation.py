"""The unversioned /api/ paths keep working unchanged, announced as deprecated (issue 16).

No redirect: many clients turn a redirected POST into a GET. Each answer carries RFC 9745's
`Deprecation` header (the date v1 became the successor, as a structured-field date) and a `Link`
to the successor. Nothing else about those responses changes.
"""

from __future__ import annotations

import datetime as dt

V1_SINCE = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DEPRECATION = f"@{int(V1_SINCE.timestamp())}"
LINK = '</api/v1/docs/>; rel="successor-version"'


class ApiDeprecationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        path = request.path_info
        if path.startswith("/api/") and not path.startswith("/api/v1/"):
            response["Deprecation"] = DEPRECATION
            response["Link"] = LINK
        return response
