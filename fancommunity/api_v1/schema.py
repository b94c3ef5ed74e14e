"""drf-spectacular: how the Bearer token appears in the schema (and in the docs page's Authorize box)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator


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


class V1SchemaGenerator(SchemaGenerator):
    """The schema of /api/v1/ only, wherever it is generated: the schema view passes these routes
    itself, and `check --deploy` (drf-spectacular's deploy check) uses the default generator, which
    would otherwise also read the deprecated /api/ views, whose serializers share names with v1's."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("urlconf") is None and kwargs.get("patterns") is None:
            kwargs["urlconf"] = "fancommunity.api_v1.routes"
        super().__init__(*args, **kwargs)
