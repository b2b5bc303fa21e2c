"""What facilitators write about a group and its sessions: within a limit said kindly, never
cut, and stored without hidden bidirectional controls."""

from __future__ import annotations

import html
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.exceptions import ServiceError
from accounts.text import clean_stored_text
from groups.models import GroupSession, TherapyGroup, Topic
from groups.services import group_create, group_update
from tests.factories import make_group, make_member, make_session
from tests.groups import test_bad_input as bad_input

pytestmark = pytest.mark.django_db

RLO, PDF = "\u202e", "\u202c"


def group_fields(**changes: str) -> dict[str, str]:
    """The group form as test_bad_input fills it in, with ``changes``."""
    return bad_input.group_fields(SimpleNamespace()) | changes


@pytest.mark.parametrize(
    ("field", "length", "note"),
    [
        ("title", 121, "Titles can be up to 120 characters; yours has 121."),
        ("description", 2412, "Descriptions can be up to 2,000 characters; yours has 2,412."),
        ("description", 100_000, "Descriptions can be up to 2,000 characters; yours has 100,000."),
        ("agreement", 2001, "Group agreements can be up to 2,000 characters; yours has 2,001."),
    ],
)
def test_a_group_text_over_its_limit_is_refused_kindly_and_shown_again_whole(
    client, therapist, field, length, note
):
    written = ("Calm words. " * (length // 12 + 1))[: length - 1] + "!"
    client.force_login(therapist)

    response = client.post(reverse("groups:create"), group_fields(**{field: written}))

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f"<li>{note}</li>" in page
    assert written in page  # nothing they wrote is lost
    assert not TherapyGroup.objects.exists()


def test_editing_a_group_refuses_an_over_long_description_and_keeps_it_on_the_page(
    client, therapist
):
    group = make_group(therapist)
    written = "y" * 2001
    client.force_login(therapist)

    response = client.post(
        reverse("groups:edit", args=[group.slug]), group_fields(description=written)
    )

    assert response.status_code == 200
    assert "Descriptions can be up to 2,000 characters; yours has 2,001." in html.unescape(
        response.content.decode()
    )
    assert written in response.content.decode()
    group.refresh_from_db()
    assert group.description == "A calm space to talk about living with anxiety."


def test_group_texts_are_stored_without_bidirectional_controls(client, therapist):
    client.force_login(therapist)
    fields = group_fields(
        title=f"Evening {RLO}elcric{PDF}",
        description=f"Line one\r\n{RLO}enil owt\u2066",
        agreement="Be \u200bkind\u200e",
    )

    response = client.post(reverse("groups:create"), fields)

    assert response.status_code == 302
    group = TherapyGroup.objects.get()
    assert (group.title, group.description, group.agreement) == (
        "Evening elcric",
        "Line one\nenil owt",
        "Be kind",
    )
    page = client.get(reverse("groups:detail", args=[group.slug])).content.decode()
    assert RLO not in page and "\u2066" not in page


def test_group_services_refuse_text_over_the_limit_instead_of_cutting_it(therapist):
    topic = Topic.objects.get(slug="anxiety")
    with pytest.raises(ServiceError) as caught:
        group_create(
            actor=therapist, title="Circle", topic=topic, kind="support", description="x" * 2001
        )
    assert caught.value.message == "Descriptions can be up to 2,000 characters; yours has 2,001."
    group = make_group(therapist)
    with pytest.raises(ServiceError) as caught:
        group_update(actor=therapist, group=group, agreement="x" * 2001)
    assert caught.value.code == "too_long"
    group_update(actor=therapist, group=group, title=f"{RLO}New title")
    group.refresh_from_db()
    assert group.title == "New title"
    assert group.agreement == ""


def test_a_cancel_reason_is_stored_clean_and_one_too_long_is_refused_on_the_page(
    client, therapist, member
):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    make_member(group, member)
    client.force_login(therapist)
    url = reverse("groups:session_cancel", args=[session.pk])

    too_long = client.post(url, {"reason": "z" * 301})
    assert too_long.status_code == 200
    assert "Reasons can be up to 300 characters; yours has 301." in html.unescape(
        too_long.content.decode()
    )
    assert "z" * 301 in too_long.content.decode()

    assert client.post(url, {"reason": f"{RLO}llew ton m'I"}).status_code == 302
    session.refresh_from_db()
    assert session.cancel_reason == "llew ton m'I"


@pytest.mark.parametrize(
    ("model", "field", "limit"),
    [(TherapyGroup, "description", 2000), (TherapyGroup, "agreement", 2000)],
)
def test_the_database_bounds_group_texts_written_around_the_services(
    therapist, model, field, limit
):
    group = make_group(therapist)
    model.objects.filter(pk=group.pk).update(**{field: "x" * limit})
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=group.pk).update(**{field: "x" * (limit + 1)})


def test_text_stored_before_the_limits_is_cleaned_and_cut_to_fit(therapist, member):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    enrollment = make_member(group, member)
    TherapyGroup.objects.filter(pk=group.pk).update(title=f"Old {RLO}title", description="d" * 1500)
    GroupSession.objects.filter(pk=session.pk).update(reschedule_reason=f"{RLO}moved")
    type(enrollment).objects.filter(pk=enrollment.pk).update(pseudonym=f"Quiet {RLO}Otter")

    clean_stored_text(TherapyGroup, {"title": None, "description": 1000})
    clean_stored_text(GroupSession, {"reschedule_reason": None})
    clean_stored_text(type(enrollment), {"pseudonym": None})

    group.refresh_from_db()
    assert group.title == "Old title"
    assert group.description == "d" * 999 + "…"
    assert GroupSession.objects.get(pk=session.pk).reschedule_reason == "moved"
    assert type(enrollment).objects.get(pk=enrollment.pk).pseudonym == "Quiet Otter"


def test_pages_isolate_names_and_titles_from_the_words_around_them(client, therapist, member):
    group = make_group(therapist)
    make_member(group, member)
    client.force_login(member)

    page = client.get(reverse("groups:detail", args=[group.slug])).content.decode()

    assert "Led by <bdi>Harbor Light</bdi>" in page
    assert '<strong class="pseudonym"><bdi>Quiet Otter</bdi></strong>' in page
