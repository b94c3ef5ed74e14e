"""Issue 15: stored texts no longer hold live links. Bodies written before it carry the full
signup or data link (a credential a staff member could copy); replace each with the placeholder
that texts are now stored with. A text still waiting to be sent then gets a fresh link when it
leaves (accounts/tokens.py render_links); one already sent keeps working on the fan's phone until
it expires, as before: only our copy of it changes."""

import re

from django.db import migrations

JOIN = re.compile(r"https?://[^\s]+?/join/[^/\s]+/\?t=[A-Za-z0-9_\-]+")
DATA = re.compile(r"https?://[^\s]+?/me/\?t=[A-Za-z0-9_\-]+")


def scrub(apps, schema_editor):
    OutboundMessage = apps.get_model("messaging", "OutboundMessage")
    rows = OutboundMessage.objects.filter(kind="system", body__contains="?t=").only("id", "body")
    changed = []
    for row in rows.iterator(chunk_size=2000):
        body = DATA.sub("{data_link}", JOIN.sub("{join_link}", row.body))
        if body != row.body:
            row.body = body
            changed.append(row)
        if len(changed) >= 2000:
            OutboundMessage.objects.bulk_update(changed, ["body"])
            changed = []
    if changed:
        OutboundMessage.objects.bulk_update(changed, ["body"])


class Migration(migrations.Migration):
    dependencies = [("messaging", "0008_priority_lane")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
