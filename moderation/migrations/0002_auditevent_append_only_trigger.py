"""Reject UPDATE and DELETE on the audit table, whoever asks (raw SQL too)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION hearth_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'moderation_auditevent is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER moderation_auditevent_append_only
    BEFORE UPDATE OR DELETE ON moderation_auditevent
    FOR EACH ROW EXECUTE FUNCTION hearth_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS moderation_auditevent_append_only ON moderation_auditevent;
DROP FUNCTION IF EXISTS hearth_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
