"""Fill the directory's columns for the groups that exist: each group's next session (the first
by start not cancelled and not over, as GroupSession.objects.upcoming) and its places taken.
A next session that closes after this runs is moved on by the groups.advance_next_sessions
sweep, like any other."""

from django.db import migrations

FILL_NEXT_SESSION = """
UPDATE groups_therapygroup AS g
SET next_session_starts_at = s.starts_at,
    next_session_closes_at = LEAST(s.ends_at, COALESCE(s.closed_at, s.ends_at))
FROM (
    SELECT DISTINCT ON (group_id) group_id, starts_at, ends_at, closed_at
    FROM groups_groupsession
    WHERE cancelled_at IS NULL
      AND ends_at > now()
      AND (closed_at IS NULL OR closed_at > now())
    ORDER BY group_id, starts_at, id
) AS s
WHERE s.group_id = g.id
"""

FILL_SEATS_TAKEN = """
UPDATE groups_therapygroup AS g
SET seats_taken = e.taken
FROM (
    SELECT group_id, COUNT(*) AS taken
    FROM groups_enrollment
    WHERE state = 'active'
    GROUP BY group_id
) AS e
WHERE e.group_id = g.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0012_therapygroup_directory_listing"),
    ]

    operations = [
        migrations.RunSQL(FILL_NEXT_SESSION, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(FILL_SEATS_TAKEN, reverse_sql=migrations.RunSQL.noop),
    ]
