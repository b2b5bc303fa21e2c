"""The first crisis lines. Staff keep them current in the admin."""

from django.db import migrations

LINES = [
    # country, name, phone, text, website, hours, description, sort order
    ("GB", "Samaritans", "116 123", "", "https://www.samaritans.org", "24 hours, every day",
     "Free to call. Someone to listen, whatever you are going through.", 10),
    ("GB", "Shout", "", "Text SHOUT to 85258", "https://giveusashout.org", "24 hours, every day",
     "Free, confidential text support.", 20),
    ("GB", "NHS 111", "111", "", "https://111.nhs.uk", "24 hours, every day",
     "Urgent mental health help in England: call 111 and choose the mental health option.", 30),
    ("US", "988 Suicide & Crisis Lifeline", "988", "Text 988", "https://988lifeline.org",
     "24 hours, every day", "Call or text 988 for free, confidential support.", 10),
    ("US", "Crisis Text Line", "", "Text HOME to 741741", "https://www.crisistextline.org",
     "24 hours, every day", "Free text support with a trained volunteer.", 20),
    ("CA", "9-8-8 Suicide Crisis Helpline", "988", "Text 988", "https://988.ca",
     "24 hours, every day", "Call or text 9-8-8 in English or French.", 10),
    ("IE", "Samaritans Ireland", "116 123", "", "https://www.samaritans.org/ireland",
     "24 hours, every day", "Free to call. Someone to listen.", 10),
    ("IE", "Text 50808", "", "Text HELLO to 50808", "https://text50808.ie", "24 hours, every day",
     "Free, anonymous text support.", 20),
    ("AU", "Lifeline", "13 11 14", "Text 0477 13 11 14", "https://www.lifeline.org.au",
     "24 hours, every day", "Crisis support and suicide prevention.", 10),
    ("NZ", "Need to talk? 1737", "1737", "Text 1737", "https://1737.org.nz", "24 hours, every day",
     "Call or text to talk with a trained counsellor.", 10),
    ("DE", "TelefonSeelsorge", "0800 111 0 111", "", "https://www.telefonseelsorge.de",
     "24 hours, every day", "Free and anonymous. Also 0800 111 0 222.", 10),
    ("FR", "3114 Prévention du suicide", "3114", "", "https://3114.fr", "24 hours, every day",
     "Free national suicide prevention line.", 10),
    ("NL", "113 Zelfmoordpreventie", "0800 0113", "", "https://www.113.nl", "24 hours, every day",
     "Free to call; you can also call 113 or chat on the website.", 10),
    ("ZZ", "Find A Helpline", "", "", "https://findahelpline.com", "Directory",
     "Free crisis lines in more than 130 countries, searchable by country and topic.", 10),
]  # fmt: skip


def forwards(apps, schema_editor):
    CrisisLine = apps.get_model("moderation", "CrisisLine")
    for country, name, phone, text, website, hours, description, order in LINES:
        CrisisLine.objects.get_or_create(
            country=country,
            name=name,
            defaults={
                "phone": phone,
                "text": text,
                "website": website,
                "hours": hours,
                "description": description,
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("moderation", "0002_auditevent_append_only_trigger")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
