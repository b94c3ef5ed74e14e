# A fan who opts out or is erased is announced on PostgreSQL's channel `fan_gone` when that
# transaction commits (issue 10, thirteenth session): the priority lane listens, so a link or reply
# already in flight for that fan is stopped before its next send, not at the next re-check
# (accounts/stop_notices.py). A trigger rather than a NOTIFY in each path: every way
# a fan leaves (the webhook's STOP, the ORM's fan_opt_out, a 21610 status callback, an erasure, a
# bulk UPDATE) announces it, including paths written later. SQLite, the embedded default, has no
# LISTEN/NOTIFY; its lane keeps the periodic re-check alone.

from django.db import migrations

CREATE = """
CREATE FUNCTION accounts_fan_gone_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('fan_gone', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_fan_gone AFTER INSERT OR UPDATE OF status ON accounts_fan
    FOR EACH ROW WHEN (NEW.status IN ('opted_out', 'erased'))
    EXECUTE FUNCTION accounts_fan_gone_notify();
"""
DROP = """
DROP TRIGGER IF EXISTS accounts_fan_gone ON accounts_fan;
DROP FUNCTION IF EXISTS accounts_fan_gone_notify();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0011_merge_issues_10_to_17"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
