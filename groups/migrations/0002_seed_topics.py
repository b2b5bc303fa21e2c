from django.db import migrations

TOPICS = [
    ("Anxiety", "anxiety"),
    ("Depression", "depression"),
    ("Grief and loss", "grief"),
    ("Addiction recovery", "addiction-recovery"),
    ("Trauma", "trauma"),
    ("Parenting", "parenting"),
    ("Loneliness", "loneliness"),
    ("Living with chronic illness", "chronic-illness"),
    ("Caring for someone", "carers"),
    ("Clinical practice", "clinical-practice"),
]


def forwards(apps, schema_editor):
    Topic = apps.get_model("groups", "Topic")
    for order, (name, slug) in enumerate(TOPICS):
        Topic.objects.get_or_create(slug=slug, defaults={"name": name, "sort_order": order * 10})


class Migration(migrations.Migration):
    dependencies = [("groups", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
