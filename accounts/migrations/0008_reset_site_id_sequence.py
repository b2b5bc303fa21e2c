from django.core.management.color import no_style
from django.db import migrations


def reset_site_id_sequence(apps, schema_editor):
    """0002 wrote the site with an explicit id, which leaves PostgreSQL's id sequence behind
    it: the first site added in the admin then collided with id 1 (a 500)."""
    Site = apps.get_model("sites", "Site")
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Site]):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_alter_notification_kind"),
        ("sites", "0002_alter_domain_unique"),
    ]

    operations = [migrations.RunPython(reset_site_id_sequence, migrations.RunPython.noop)]
