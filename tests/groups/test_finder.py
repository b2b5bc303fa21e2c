"""Find a group that fits: a short list ranked by plain points, with the reasons in words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.finder import FinderAnswers, groups_suggested
from groups.models import FinderAnswers as KeptAnswers
from groups.models import Topic
from groups.scheduling import to_local
from tests.factories import make_group, make_member, make_series, make_session

pytestmark = pytest.mark.django_db

ZONE = "Europe/London"


def weekday_in(days_ahead: int) -> int:
    return (
        to_local(timezone.now(), time_zone=ZONE).date() + timedelta(days=days_ahead)
    ).isoweekday()


@pytest.fixture
def groups(therapist):
    """Three groups of one facilitator, meeting at different times, in London time."""
    grief = Topic.objects.get(slug="grief")
    anxiety = make_group(therapist, title="Anxiety mornings", language="en")
    make_series(anxiety, count=3, days_ahead=2, hour=9)
    grieving = make_group(therapist, title="Grief evenings", topic=grief, kind="therapy")
    make_session(grieving, days_ahead=3, hour=19)
    spanish = make_group(therapist, title="Ansiedad", language="es")
    make_session(spanish, days_ahead=4, hour=19)
    return anxiety, grieving, spanish


def titles(suggestions) -> list[str]:
    return [s.group.title for s in suggestions]


def test_the_topic_counts_most(groups, member):
    found = groups_suggested(viewer=member, answers=FinderAnswers(topic="grief"), viewer_zone=ZONE)
    assert titles(found)[0] == "Grief evenings"
    assert found[0].reasons[0] == "about grief and loss"


def test_a_time_the_person_is_free_beats_a_sooner_group(groups, member):
    evening = FinderAnswers(times_of_day=frozenset({"evening"}))
    found = groups_suggested(viewer=member, answers=evening, viewer_zone=ZONE)
    assert titles(found)[:2] == ["Grief evenings", "Ansiedad"]
    assert titles(found)[2] == "Anxiety mornings"  # still listed, with fewer points
    assert found[0].score > found[2].score


def test_a_chosen_language_is_a_condition_not_a_preference(groups, member):
    found = groups_suggested(viewer=member, answers=FinderAnswers(language="es"), viewer_zone=ZONE)
    assert titles(found) == ["Ansiedad"]
    assert "Spanish" in found[0].reasons


def test_the_reasons_name_the_weekly_time_in_the_persons_own_zone(groups, member):
    morning = FinderAnswers(weekdays=frozenset({weekday_in(2)}), topic="anxiety")
    [first, *_] = groups_suggested(viewer=member, answers=morning, viewer_zone="America/New_York")
    assert first.group.title == "Anxiety mornings"
    day = (to_local(timezone.now(), time_zone=ZONE) + timedelta(days=2)).strftime("%A")
    # 09:00 in London is 04:00 in New York (or 05:00 for the weeks the clocks differ).
    assert any(r.startswith(f"meets {day}s 0") and r.endswith("your time") for r in first.reasons)
    assert "8 places" in first.reasons


def test_a_full_group_says_so_and_ranks_below_one_with_a_place(groups, member):
    _, grieving, _ = groups
    grieving.capacity = 2
    grieving.save(update_fields=["capacity"])
    make_member(grieving), make_member(grieving)
    found = groups_suggested(viewer=member, answers=FinderAnswers(language="en"), viewer_zone=ZONE)
    assert titles(found) == ["Anxiety mornings", "Grief evenings"]
    assert found[1].reasons[-1] == "full now: you can join the waiting list"


def test_invitation_only_and_unlisted_groups_are_never_suggested(groups, therapist, member):
    closed = make_group(therapist, title="Closed circle", is_closed=True)
    make_session(closed, days_ahead=5)
    hidden = make_group(therapist, title="Hidden circle", is_listed=False)
    make_session(hidden, days_ahead=6)
    found = groups_suggested(viewer=member, answers=FinderAnswers(), viewer_zone=ZONE)
    assert "Closed circle" not in titles(found)
    assert "Hidden circle" not in titles(found)


def test_the_page_asks_and_suggests_without_keeping_anything(client, groups, member):
    client.force_login(member)
    page = client.get(reverse("groups:finder"))
    assert "A few questions" in page.content.decode()
    answered = client.get(reverse("groups:finder"), {"topic": "grief", "language": "", "kind": ""})
    text = answered.content.decode()
    assert "Grief evenings" in text
    assert "about grief and loss" in text
    assert not KeptAnswers.objects.exists()


def test_a_person_can_ask_to_keep_the_answers_and_forget_them(client, groups, member):
    client.force_login(member)
    response = client.post(
        reverse("groups:finder"),
        {"topic": "grief", "weekdays": ["2", "4"], "language": "en", "kind": "", "action": "keep"},
    )
    assert response.status_code == 302
    kept = KeptAnswers.objects.get(user=member)
    assert kept.answers["weekdays"] == [2, 4]
    again = client.get(reverse("groups:finder")).content.decode()
    assert "Grief evenings" in again  # suggested from the kept answers
    client.post(reverse("groups:finder"), {"action": "forget"})
    assert not KeptAnswers.objects.exists()


def test_an_anonymous_visitor_can_answer_but_not_keep(client, groups):
    answered = client.get(reverse("groups:finder"), {"language": "es", "topic": "", "kind": ""})
    assert "Ansiedad" in answered.content.decode()
    response = client.post(reverse("groups:finder"), {"language": "es", "action": "keep"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert not KeptAnswers.objects.exists()


def test_nonsense_answers_get_the_questions_again_kindly(client, groups):
    response = client.get(reverse("groups:finder"), {"weekdays": ["9"], "times_of_day": ["x"]})
    assert response.status_code == 200
    assert "Something needs a small change" in response.content.decode()


def test_the_finder_reads_a_fixed_number_of_queries(client, groups, member, therapist):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member)
    params = {"topic": "grief", "times_of_day": ["evening"], "language": "en", "kind": ""}
    client.get(reverse("groups:finder"), params)  # the login's first-request writes

    def queries() -> int:
        with CaptureQueriesContext(connection) as done:
            client.get(reverse("groups:finder"), params)
        return len(done)

    few = queries()
    for i in range(6):
        make_session(make_group(therapist, title=f"Extra {i}"), days_ahead=8 + i)
    # 5: one for the login (the person and the session: accounts.session_store), four its own.
    assert queries() == few == 5


def test_kept_answers_are_in_the_persons_data_and_go_with_their_account(groups, member):
    from groups.services import finder_answers_keep
    from moderation.data_rights import account_erase, personal_data

    finder_answers_keep(actor=member, answers=FinderAnswers(topic="grief"))
    [kept] = personal_data(user=member)["finder_answers_kept"]
    assert kept["answers"]["topic"] == "grief"
    account_erase(actor=member)
    assert not KeptAnswers.objects.filter(user=member).exists()
