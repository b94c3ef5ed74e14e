"""Console pages for the audience, one module an area: segments, lists and tags, imports, exports,
and the parts of the Fans pages (which accounts.admin.FanAdmin registers).

Pages stay thin: forms validate, services in messaging/audience/ act. Importing this package
registers every audience model admin.
"""

from messaging.audience.admin import exports, fans, imports, lists, segments  # noqa: F401  (registers them)
