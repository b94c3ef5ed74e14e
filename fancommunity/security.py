"""Response headers that defend the browser side (issue 15): CSP, Permissions-Policy, no-store.

Three Content-Security-Policies, chosen by path (docs/SECURITY.md says why each is what it is):

- fan pages and everything else (settings.CONTENT_SECURITY_POLICY): strict. Scripts and styles
  only from this site or inline with the request's nonce (`nonce="{{ request.csp_nonce }}"`); no
  eval, no inline event handlers, no plugins, no framing, forms post only here.
- the console, /admin/ and the team invite pages /team/ (settings.CSP_CONSOLE_DIRECTIVES): unfold's Alpine build evaluates its
  expressions with the Function constructor, so 'unsafe-eval'; its widgets set style attributes,
  so inline styles. Inline scripts still need the nonce.
- the API's HTML docs (settings.CSP_API_DOCS_PREFIXES, CSP_API_DOCS_DIRECTIVES): Swagger UI and
  Redoc inject styles and load images from data: URLs; scripts only from this site (serve the docs
  with drf-spectacular's *Split* views, which move the inline script to a URL of its own).

Fan pages that show or take personal data (signup, /me/ and its download) and team invite pages
answer `Cache-Control: no-store`: a shared or back-button cache must not keep them.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.utils.cache import add_never_cache_headers

# URL names (namespace "accounts" and the team pages) whose answers no cache may keep.
NO_STORE_URL_NAMES = {
    "accounts:join",
    "accounts:join-verify",
    "accounts:join-done",
    "accounts:me",
    "accounts:me-profile",
    "accounts:me-consent",
    "accounts:me-delete",
    "accounts:me-export",
}
NO_STORE_PREFIXES = ("/team/invite/", "/admin/reset/", "/admin/login/")


# Pages drawn with the console's theme (unfold): the console and the team invite pages.
CONSOLE_PREFIXES = ("/admin/", "/team/")


def _policy_for(path: str):
    if path.startswith(CONSOLE_PREFIXES):
        return settings.CSP_CONSOLE_DIRECTIVES
    if path.startswith(tuple(settings.CSP_API_DOCS_PREFIXES)):
        return settings.CSP_API_DOCS_DIRECTIVES
    return None  # the strict default, settings.CONTENT_SECURITY_POLICY


class SecurityHeadersMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if parts.config is None and not report_only:
            parts.config = _policy_for(request.path_info)
        return parts

    def process_response(self, request, response):
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        match = getattr(request, "resolver_match", None)
        if (match is not None and match.view_name in NO_STORE_URL_NAMES) or request.path_info.startswith(
            NO_STORE_PREFIXES
        ):
            # no-store, plus no-cache/must-revalidate/private and an Expires in the past.
            add_never_cache_headers(response)
            response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
        return super().process_response(request, response)
