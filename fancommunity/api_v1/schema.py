"""drf-spectacular: how the Bearer token appears in the schema (and in the docs page's Authorize box)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "fancommunity.api_v1.core.BearerTokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token: fc_live_..."}


class ConsoleSessionScheme(OpenApiAuthenticationExtension):
    target_class = "fancommunity.api_v1.core.ConsoleSessionAuthentication"
    name = "console_session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "The console's sign-in."}
