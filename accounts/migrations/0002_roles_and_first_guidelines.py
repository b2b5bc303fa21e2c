from django.db import migrations
from django.utils import timezone

FIRST_GUIDELINES = """Hearth groups work because everyone looks after the space together. By joining a group you agree to these guidelines.

Be kind. Speak to others as you would like to be spoken to. Disagree gently, and never mock, threaten or shame anyone.

Keep what is shared here, here. What others say in a group stays in the group. Do not copy, screenshot or repeat it elsewhere.

Protect everyone's privacy, including your own. Use your display name. Do not share your own or anyone else's full name, address, phone number, email or social media, and do not ask others for theirs.

No private contact. Hearth has no private messages by design. Do not try to contact other members outside the group.

Follow the facilitator. The facilitator keeps the group safe and may mute someone, remove them, or end a session when needed.

No selling, no spam, no advice to stop treatment. Do not promote products or services, and do not tell anyone to stop medication or treatment.

If you are in danger, get help now. Members care, but they cannot keep you safe in an emergency. Use the Get help now button to find a crisis line, or call your local emergency number.

If something feels wrong, report it. Reports are private: the person you report never learns who reported them."""


def forwards(apps, schema_editor):
    Site = apps.get_model("sites", "Site")
    Site.objects.update_or_create(pk=1, defaults={"domain": "localhost:8000", "name": "Hearth"})
    Group = apps.get_model("auth", "Group")
    for name in ("therapist", "peer_supervisor", "staff"):
        Group.objects.get_or_create(name=name)
    GuidelinesVersion = apps.get_model("accounts", "GuidelinesVersion")
    GuidelinesVersion.objects.get_or_create(
        version=1,
        defaults={
            "body": FIRST_GUIDELINES,
            "summary_of_changes": "The first guidelines.",
            "published_at": timezone.now(),
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("sites", "0002_alter_domain_unique"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
