"""The database itself refuses two live sessions of one facilitator that overlap.

The scheduling service checks first (with a clear message); this is the backstop for races and
for writes that do not go through it.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE groups_groupsession ADD CONSTRAINT session_no_overlap_per_facilitator
    EXCLUDE USING gist (facilitator_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
    WHERE (cancelled_at IS NULL);
"""

DROP = """
ALTER TABLE groups_groupsession DROP CONSTRAINT IF EXISTS session_no_overlap_per_facilitator;
"""


class Migration(migrations.Migration):
    dependencies = [("groups", "0002_seed_topics")]

    operations = [migrations.RunSQL(CREATE, DROP)]
