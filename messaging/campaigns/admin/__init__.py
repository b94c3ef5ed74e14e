"""Console pages for campaigns: compose with a live preview (`composer.py`), schedule, approve,
control, report (`pages.py`). Importing this package registers the Campaign admin."""

from messaging.campaigns.admin import pages  # noqa: F401  (registers CampaignAdmin)
