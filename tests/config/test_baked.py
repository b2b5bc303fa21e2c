"""Baked queries (config.baked): the ORM's SQL built once, run with new values, the same rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db.models import F
from django.db.models.functions import Upper
from django.utils import timezone

from config.baked import Baked, CannotBake
from groups.models import Enrollment, FinderAnswers, GroupSession, TherapyGroup
from tests.factories import UserFactory, make_group, make_member, make_session

pytestmark = pytest.mark.django_db


def _sessions_of(user_id: int, after: datetime):
    return (
        GroupSession.objects.filter(group__enrollments__user_id=user_id, starts_at__gt=after)
        .order_by("starts_at")
        .values_list("pk", "group__title", "starts_at")
    )


SESSIONS_OF = Baked(_sessions_of, user_id=int, after=datetime)


def test_a_baked_query_answers_as_the_orm_does_for_every_set_of_values(therapist):
    ann, bob = UserFactory(), UserFactory()
    first, second = make_group(therapist, title="Evenings"), make_group(therapist, title="Dawn")
    make_member(first, ann)
    make_member(second, ann)
    make_member(second, bob)
    for hour, group in ((10, first), (18, second)):
        make_session(group, days_ahead=2, hour=hour)
        make_session(group, days_ahead=9, hour=hour)
    now = timezone.now()
    for user, after in [(ann, now), (bob, now), (ann, now + timedelta(days=5)), (therapist, now)]:
        expected = list(_sessions_of(user.pk, after))
        assert SESSIONS_OF.rows(user_id=user.pk, after=after) == expected
    assert len(SESSIONS_OF.rows(user_id=ann.pk, after=now)) == 4
    assert len(SESSIONS_OF.rows(user_id=bob.pk, after=now)) == 2


def test_values_are_sent_as_parameters_never_written_into_the_sql(therapist):
    group = make_group(therapist, title="O'Brien's group")
    titled = Baked(
        lambda title: TherapyGroup.objects.filter(title=title).values_list("pk"), title=str
    )
    assert titled.rows(title="O'Brien's group") == [(group.pk,)]
    assert titled.rows(title="x' OR '1'='1") == []


def test_a_constant_in_the_query_stays_as_written(therapist):
    group = make_group(therapist)
    person = UserFactory()
    make_member(group, person)
    Enrollment.objects.filter(user=person).update(
        state=Enrollment.State.WAITLISTED, waitlist_position=1
    )
    active = Baked(
        lambda user_id: Enrollment.objects.filter(
            user_id=user_id, state=Enrollment.State.ACTIVE
        ).values_list("group_id"),
        user_id=int,
    )
    assert active.rows(user_id=person.pk) == []


@pytest.mark.parametrize(
    ("build", "kinds", "reason"),
    [
        # The ORM wraps the value in % for LIKE: replaying it as given would be wrong.
        (
            lambda title: TherapyGroup.objects.filter(title__contains=title).values_list("pk"),
            {"title": str},
            "changed",
        ),
        # An argument the query never reads is a mistake in the query.
        (lambda user_id, title: TherapyGroup.objects.values_list("pk"), None, "does not use"),
    ],
)
def test_a_query_that_cannot_be_replayed_is_refused_on_its_first_run(build, kinds, reason):
    kinds = kinds or {"user_id": int, "title": str}
    baked = Baked(build, **kinds)
    values = {name: (7 if kind is int else "x") for name, kind in kinds.items()}
    with pytest.raises(CannotBake, match=reason):
        baked.rows(**values)


def _answers_of(user_id: int):
    return FinderAnswers.objects.filter(user_id=user_id).values_list("answers", F("user_id") * 2)


def test_values_converted_when_read_are_converted_as_the_orm_does(member):
    FinderAnswers.objects.create(
        user=member, answers={"topic": "grief", "days": [1, 3]}, kept_at=timezone.now()
    )
    answers = Baked(_answers_of, user_id=int)

    rows = answers.rows(user_id=member.pk)

    assert rows == list(_answers_of(member.pk))
    assert rows == [({"topic": "grief", "days": [1, 3]}, member.pk * 2)]  # JSON decoded


def test_an_argument_that_changes_the_sql_is_refused():
    # A value that decides the shape (here: how many placeholders) cannot be baked.
    shaped = Baked(
        lambda user_id: TherapyGroup.objects.filter(pk__in=range(user_id % 3 + 1)).values_list(
            "pk"
        ),
        user_id=int,
    )
    with pytest.raises(CannotBake, match="changes with its values"):
        shaped.rows(user_id=1)


def test_values_of_the_wrong_kind_are_refused():
    with pytest.raises(TypeError, match="user_id must be int"):
        SESSIONS_OF.rows(user_id="7", after=timezone.now())
    with pytest.raises(TypeError, match="user_id must be int"):
        SESSIONS_OF.rows(user_id=True, after=timezone.now())
    with pytest.raises(TypeError, match="aware"):
        SESSIONS_OF.rows(user_id=7, after=datetime(2030, 1, 1))
    with pytest.raises(TypeError, match="expected the values"):
        SESSIONS_OF.rows(user_id=7)


def _upcoming_with_group(after: datetime):
    return (
        GroupSession.objects.filter(starts_at__gt=after)
        .select_related("group")
        .annotate(group_title_upper=Upper("group__title"))
        .order_by("starts_at")
    )


UPCOMING = Baked(_upcoming_with_group, after=datetime)


def test_baked_instances_are_what_iterating_the_queryset_gives(therapist):
    first, second = make_group(therapist, title="Evenings"), make_group(therapist, title="Dawn")
    make_session(first, days_ahead=2, hour=10)
    make_session(second, days_ahead=3, hour=18)
    now = timezone.now()

    baked = UPCOMING.objects(after=now)
    expected = list(_upcoming_with_group(now))

    assert [s.pk for s in baked] == [s.pk for s in expected]
    for got, want in zip(baked, expected, strict=True):
        assert got.starts_at == want.starts_at and got.ends_at == want.ends_at
        assert got.group.title == want.group.title  # from select_related: no query
        assert got.group_title_upper == want.group_title_upper
        assert got._state.adding is False and got._state.db == "default"
    assert UPCOMING.objects(after=now + timedelta(days=2, hours=12)) == [expected[1]]


def test_objects_needs_a_model_query():
    with pytest.raises(CannotBake, match="model instances"):
        SESSIONS_OF.objects(user_id=7, after=timezone.now())


def test_reads_sent_together_answer_as_each_alone_and_count_as_queries(
    therapist, django_assert_num_queries
):
    from config.baked import objects_of, rows_of, together

    ann = UserFactory()
    group = make_group(therapist, title="Evenings")
    make_member(group, ann)
    make_session(group, days_ahead=2)
    now = timezone.now()
    by_title = Baked(lambda title: TherapyGroup.objects.filter(title=title), title=str)
    with django_assert_num_queries(3):  # one round trip, three queries all the same
        sessions, groups, none = together(
            rows_of(SESSIONS_OF, user_id=ann.pk, after=now),
            objects_of(by_title, title="Evenings"),
            rows_of(SESSIONS_OF, user_id=therapist.pk, after=now),
        )
    assert sessions == SESSIONS_OF.rows(user_id=ann.pk, after=now) and len(sessions) == 1
    assert groups == by_title.objects(title="Evenings") == [group]
    assert groups[0].title == "Evenings"
    assert none == []


def test_reads_sent_together_go_in_one_pipeline(therapist, monkeypatch):
    """One round trip: psycopg's pipeline mode, entered once for all the reads."""
    import psycopg
    from django.db import connection

    from config.baked import rows_of, together

    entered = []
    original = psycopg.Connection.pipeline

    def pipeline(self):
        entered.append(self)
        return original(self)

    monkeypatch.setattr(psycopg.Connection, "pipeline", pipeline)
    now = timezone.now()
    together(*(rows_of(SESSIONS_OF, user_id=therapist.pk, after=now) for _ in range(3)))
    assert entered == [connection.connection]
