"""What reporters and reviewers write: within a limit said kindly, never cut, stored without
hidden bidirectional controls, bounded by the database too, and isolated where shown."""

from __future__ import annotations

import html

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.exceptions import ServiceError
from chat.models import Message
from moderation import services
from moderation.models import Report
from tests.moderation.conftest import file_report

pytestmark = pytest.mark.django_db

RLO, PDF = "\u202e", "\u202c"


def _report_url(scene) -> str:
    url = reverse("moderation:report", args=[scene["group"].slug])
    return url + f"?session={scene['session'].pk}&position={scene['message'].position}"


def test_a_report_note_is_stored_without_bidirectional_controls(client, scene):
    client.force_login(scene["reporter"])

    response = client.post(
        _report_url(scene), {"reason": "harassment", "note": f"They wrote {RLO}txt.exe{PDF}"}
    )

    assert response.status_code == 302
    assert Report.objects.get().note == "They wrote txt.exe"


def test_a_report_note_over_the_limit_is_refused_kindly_and_shown_again_whole(client, scene):
    client.force_login(scene["reporter"])
    written = "It hurt. " * 300  # 2,700 characters, 2,699 once trimmed

    response = client.post(_report_url(scene), {"reason": "harassment", "note": written})

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "<li>Notes can be up to 2,000 characters; yours has 2,699.</li>" in page
    assert written.strip() in page
    assert not Report.objects.exists()


def test_the_report_service_refuses_a_long_note_instead_of_cutting_it(scene):
    with pytest.raises(ServiceError) as caught:
        file_report(scene, note="x" * 2001)
    assert caught.value.message == "Notes can be up to 2,000 characters; yours has 2,001."
    assert not Report.objects.exists()


def test_a_decision_reason_is_stored_clean_and_one_too_long_is_refused(scene, therapist):
    report = file_report(scene)
    with pytest.raises(ServiceError) as caught:
        services.report_dismiss(actor=therapist, report=report, reason="x" * 301)
    assert caught.value.message == "Reasons can be up to 300 characters; yours has 301."

    services.report_dismiss(actor=therapist, report=report, reason=f"{RLO}Handled\u200b kindly")

    report.refresh_from_db()
    assert report.decision_reason == "Handled kindly"


def test_the_database_bounds_report_notes_written_around_the_services(scene):
    report = file_report(scene)
    Report.objects.filter(pk=report.pk).update(note="x" * 2000)
    with pytest.raises(IntegrityError), transaction.atomic():
        Report.objects.filter(pk=report.pk).update(note="x" * 2001)


def test_the_review_page_isolates_words_stored_before_they_were_cleaned(client, scene, therapist):
    """An override stored before this change may still be in a message: it reorders only
    inside its own isolate, never the name or the words around it."""
    Message.objects.filter(pk=scene["message"].pk).update(body=f"Look at {RLO}txt.exe")
    report = file_report(scene, note="It looked like a file")
    client.force_login(therapist)

    page = client.get(reverse("moderation:report_detail", args=[report.pk])).content.decode()

    assert f"<bdi>Look at {RLO}txt.exe</bdi>" in page
    assert f"<bdi>{scene['message'].author.name}</bdi>" in page
    assert '<blockquote class="panel" dir="auto"><p>It looked like a file</p></blockquote>' in page
