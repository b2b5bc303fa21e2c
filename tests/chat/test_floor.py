"""The floor of a room: the pause, raised hands and rounds, through their services against the
real database (the sockets' side is in test_floor_sockets.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.exceptions import ServiceError
from chat import services
from chat.attendance import attendance_records
from chat.floor import floor_state
from chat.models import Message, RaisedHand, Room, Round, RoundTurn
from chat.selectors import room_access
from moderation.models import AuditAction, AuditEvent
from tests.chat.conftest import open_session
from tests.factories import make_group, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(therapist):
    """An open room with a facilitator and three members, all connected."""
    group = make_group(therapist, title="Evening circle", capacity=10)
    members = [make_member(group).user for _ in range(3)]
    session = open_session(group)
    now = timezone.now()
    people = {}
    for user in [therapist, *members]:
        access = room_access(user=user, session_id=session.pk, now=now)
        people[user.pk] = services.room_join(
            access=access, channel_name=f"test.{uuid.uuid4().hex}", now=now
        )
    return {
        "session": session,
        "host": therapist,
        "members": members,
        "ids": [people[user.pk].pk for user in members],
        "host_id": people[therapist.pk].pk,
    }


def post(user, session, body="Hello"):
    return services.message_post(
        actor=user, session_id=session.pk, body=body, client_id=str(uuid.uuid4())
    )


def state(session):
    return floor_state(Room.objects.get(session=session), timezone.now())


# --- The pause ---------------------------------------------------------------------------------


def test_a_pause_refuses_members_kindly_and_stores_nothing_but_lets_the_facilitator_speak(floor):
    session, host, (alice, *_) = floor["session"], floor["host"], floor["members"]
    services.room_pause(actor=host, session_id=session.pk, note="A two-minute breath.")
    with pytest.raises(ServiceError) as refused:
        post(alice, session)
    assert refused.value.code == "paused"
    assert "waits in the box" in refused.value.message
    post(host, session, "Back in two minutes.")
    assert list(Message.objects.values_list("author__user", flat=True)) == [host.pk]
    assert state(session)["paused"] == {"note": "A two-minute breath.", "until": None}


def test_a_pause_ends_by_itself_when_its_minutes_have_passed(floor):
    session, host, (alice, *_) = floor["session"], floor["host"], floor["members"]
    services.room_pause(actor=host, session_id=session.pk, minutes=2)
    Room.objects.filter(session=session).update(pause_ends_at=timezone.now() - timedelta(seconds=1))
    post(alice, session)
    assert state(session)["paused"] is None


def test_resuming_ends_the_pause_and_both_are_audited(floor):
    session, host, (alice, *_) = floor["session"], floor["host"], floor["members"]
    services.room_pause(actor=host, session_id=session.pk, minutes=5)
    services.room_resume(actor=host, session_id=session.pk)
    post(alice, session)
    actions = list(
        AuditEvent.objects.filter(session_id=session.pk).values_list("action", flat=True)
    )
    assert AuditAction.ROOM_PAUSED in actions and AuditAction.ROOM_RESUMED in actions


def test_a_member_cannot_pause_the_room(floor):
    with pytest.raises(ServiceError) as refused:
        services.room_pause(actor=floor["members"][0], session_id=floor["session"].pk)
    assert refused.value.code == "forbidden"


@pytest.mark.parametrize("minutes", [0, 61, "5", True])
def test_a_pause_of_a_strange_length_is_refused(floor, minutes):
    with pytest.raises(ServiceError) as refused:
        services.room_pause(actor=floor["host"], session_id=floor["session"].pk, minutes=minutes)
    assert refused.value.code == "pause_range"


def test_a_pause_broadcasts_only_after_commit(floor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.room_pause(actor=floor["host"], session_id=floor["session"].pk)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                services.room_resume(actor=floor["host"], session_id=floor["session"].pk)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []


# --- Raised hands ------------------------------------------------------------------------------


def test_hands_queue_in_the_order_raised_once_per_person(floor):
    session, (alice, bob, cleo) = floor["session"], floor["members"]
    for user in (bob, alice, bob, cleo):
        services.hand_raise(actor=user, session_id=session.pk)
    queue = [hand["participant"] for hand in state(session)["hands"]["queue"]]
    ids = floor["ids"]
    assert queue == [ids[1], ids[0], ids[2]]
    services.hand_lower(actor=alice, session_id=session.pk)
    assert [h["participant"] for h in state(session)["hands"]["queue"]] == [ids[1], ids[2]]


def test_one_hand_per_person_is_a_database_rule(floor):
    session, ids = floor["session"], floor["ids"]
    RaisedHand.objects.create(session=session, participant_id=ids[0], raised_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        RaisedHand.objects.create(session=session, participant_id=ids[0], raised_at=timezone.now())


def test_giving_the_floor_takes_the_first_hand_and_lowering_all_empties_the_queue(floor):
    session, host, (alice, bob, cleo) = floor["session"], floor["host"], floor["members"]
    for user in (bob, alice, cleo):
        services.hand_raise(actor=user, session_id=session.pk)
    given = services.floor_give(actor=host, session_id=session.pk)
    assert given.pk == floor["ids"][1]
    hands = state(session)["hands"]
    assert hands["floor"]["participant"] == floor["ids"][1]
    assert [h["participant"] for h in hands["queue"]] == [floor["ids"][0], floor["ids"][2]]
    services.hands_lower(actor=host, session_id=session.pk, participant_id=floor["ids"][2])
    assert len(state(session)["hands"]["queue"]) == 1
    assert services.hands_lower(actor=host, session_id=session.pk, everyone=True) == 1
    assert state(session)["hands"]["queue"] == []
    with pytest.raises(ServiceError) as refused:
        services.floor_give(actor=host, session_id=session.pk)
    assert refused.value.code == "no_hands"


def test_a_member_cannot_lower_someone_elses_hand_or_give_the_floor(floor):
    session, (alice, bob, _) = floor["session"], floor["members"]
    services.hand_raise(actor=bob, session_id=session.pk)
    for attempt in (
        lambda: services.hands_lower(
            actor=alice, session_id=session.pk, participant_id=floor["ids"][1]
        ),
        lambda: services.floor_give(actor=alice, session_id=session.pk),
    ):
        with pytest.raises(ServiceError) as refused:
            attempt()
        assert refused.value.code == "forbidden"
    assert RaisedHand.objects.count() == 1


# --- Rounds ------------------------------------------------------------------------------------


def test_a_round_gives_the_floor_to_each_member_in_turn_and_ends_by_itself(floor):
    session, host, (alice, bob, cleo) = floor["session"], floor["host"], floor["members"]
    started = services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    current = state(session)["round"]
    assert current["prompt"] == "Check-in"
    order = [turn["participant"] for turn in current["turns"]]
    assert sorted(order) == sorted(floor["ids"])  # the facilitator does not take part
    by_id = {floor["ids"][i]: user for i, user in enumerate((alice, bob, cleo))}
    first, second, third = (by_id[pid] for pid in order)

    with pytest.raises(ServiceError) as refused:
        post(second, session, "Me first")
    assert refused.value.code == "not_your_turn"
    name = current["turns"][0]["name"]
    assert refused.value.message == f"It is {name}'s turn; your message waits in the box."
    post(host, session, "Welcome")  # facilitators may always speak; it ends nobody's turn
    assert state(session)["round"]["current"] == order[0]

    post(first, session, "I am tired but here.")
    assert state(session)["round"]["current"] == order[1]
    services.round_pass(actor=second, session_id=session.pk)
    services.round_done(actor=third, session_id=session.pk)
    assert state(session)["round"] is None
    assert Round.objects.get(pk=started.pk).ended_at is not None
    states = dict(RoundTurn.objects.filter(round=started).values_list("participant_id", "state"))
    assert states == {order[0]: "spoken", order[1]: "passed", order[2]: "spoken"}
    post(second, session, "Now anyone may speak")


def test_a_member_may_pass_ahead_of_their_turn_and_is_then_left_out(floor):
    session, host = floor["session"], floor["host"]
    services.round_start(actor=host, session_id=session.pk, prompt="Check-out")
    order = [turn["participant"] for turn in state(session)["round"]["turns"]]
    users = dict(zip(floor["ids"], floor["members"], strict=True))
    services.round_pass(actor=users[order[2]], session_id=session.pk)
    post(users[order[0]], session)
    post(users[order[1]], session)
    assert state(session)["round"] is None


def test_the_facilitator_reorders_skips_and_ends_a_round(floor):
    session, host = floor["session"], floor["host"]
    services.round_start(actor=host, session_id=session.pk, prompt="How are you arriving?")
    order = [turn["participant"] for turn in state(session)["round"]["turns"]]
    services.round_reorder(actor=host, session_id=session.pk, order=[order[2], order[1]])
    assert [t["participant"] for t in state(session)["round"]["turns"]] == [
        order[0],
        order[2],
        order[1],
    ]
    services.round_skip(actor=host, session_id=session.pk)
    current = state(session)["round"]
    assert current["current"] == order[2]
    assert current["turns"][0]["state"] == "skipped"
    services.round_end(actor=host, session_id=session.pk)
    assert state(session)["round"] is None
    users = dict(zip(floor["ids"], floor["members"], strict=True))
    post(users[order[1]], session)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        AuditAction.ROUND_STARTED,
        AuditAction.ROUND_REORDERED,
        AuditAction.ROUND_TURN_SKIPPED,
        AuditAction.ROUND_ENDED,
    } <= actions


def test_a_facilitator_who_takes_part_goes_first(floor):
    session, host = floor["session"], floor["host"]
    services.round_start(actor=host, session_id=session.pk, prompt="Check-in", take_part=True)
    assert state(session)["round"]["current"] == floor["host_id"]
    post(host, session, "I will start.")
    assert state(session)["round"]["current"] != floor["host_id"]


def test_only_one_round_runs_at_a_time_and_members_cannot_start_one(floor):
    session, host, alice = floor["session"], floor["host"], floor["members"][0]
    with pytest.raises(ServiceError) as refused:
        services.round_start(actor=alice, session_id=session.pk, prompt="Check-in")
    assert refused.value.code == "forbidden"
    services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    with pytest.raises(ServiceError) as refused:
        services.round_start(actor=host, session_id=session.pk, prompt="Again")
    assert refused.value.code == "round_running"
    with pytest.raises(IntegrityError), transaction.atomic():
        Round.objects.create(session=session, prompt="x", started_at=timezone.now())


def test_opening_the_floor_ends_the_round_and_clears_the_floor(floor):
    session, host, alice = floor["session"], floor["host"], floor["members"][0]
    services.hand_raise(actor=alice, session_id=session.pk)
    services.floor_give(actor=host, session_id=session.pk)
    services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    services.floor_open(actor=host, session_id=session.pk)
    now = state(session)
    assert now["round"] is None and now["hands"]["floor"] is None


def test_a_resend_of_a_message_stored_before_the_round_is_answered_not_refused(floor):
    session, host, alice = floor["session"], floor["host"], floor["members"][0]
    client_id = str(uuid.uuid4())
    services.message_post(actor=alice, session_id=session.pk, body="Hi", client_id=client_id)
    services.room_pause(actor=host, session_id=session.pk)
    again = services.message_post(
        actor=alice, session_id=session.pk, body="Hi", client_id=client_id
    )
    assert not again.created


def test_removing_the_member_whose_turn_it_is_moves_the_round_on_and_lowers_their_hand(floor):
    session, host = floor["session"], floor["host"]
    users = dict(zip(floor["ids"], floor["members"], strict=True))
    services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    order = [turn["participant"] for turn in state(session)["round"]["turns"]]
    services.hand_raise(actor=users[order[0]], session_id=session.pk)
    services.participant_remove(actor=host, session_id=session.pk, participant_id=order[0])
    now = state(session)
    assert now["round"]["current"] == order[1]
    assert now["round"]["turns"][0]["state"] == "skipped"
    assert now["hands"]["queue"] == []
    post(users[order[1]], session)


def test_reordering_can_add_a_late_arrival_and_take_out_someone_who_left(floor):
    session, host = floor["session"], floor["host"]
    services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    order = [turn["participant"] for turn in state(session)["round"]["turns"]]
    late_user = make_member(session.group).user
    late = services.room_join(
        access=room_access(user=late_user, session_id=session.pk, now=timezone.now()),
        channel_name="test.late",
        now=timezone.now(),
    )
    services.round_reorder(actor=host, session_id=session.pk, order=[late.pk, order[1]])
    turns = state(session)["round"]["turns"]
    assert [t["participant"] for t in turns] == [order[0], late.pk, order[1]]
    assert [t["state"] for t in turns] == ["current", "waiting", "waiting"]


@pytest.mark.parametrize(
    "order",
    ["not a list", [1, 1], ["first"]],
)
def test_a_strange_order_is_refused_and_changes_nothing(floor, order):
    session, host = floor["session"], floor["host"]
    services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    before = state(session)["round"]
    with pytest.raises(ServiceError) as refused:
        services.round_reorder(actor=host, session_id=session.pk, order=order)
    assert refused.value.code in {"bad_order", "no_such_person"}
    assert state(session)["round"] == before


def test_the_one_who_has_spoken_cannot_be_put_back_in_the_order(floor):
    session, host = floor["session"], floor["host"]
    users = dict(zip(floor["ids"], floor["members"], strict=True))
    services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    order = [turn["participant"] for turn in state(session)["round"]["turns"]]
    post(users[order[0]], session)
    with pytest.raises(ServiceError) as refused:
        services.round_reorder(actor=host, session_id=session.pk, order=[order[0], order[2]])
    assert refused.value.code == "bad_order"


def test_every_change_of_the_floor_raises_its_version(floor):
    session, host, alice = floor["session"], floor["host"], floor["members"][0]
    versions = [state(session)["floor_version"]]
    for change in (
        lambda: services.room_pause(actor=host, session_id=session.pk),
        lambda: services.hand_raise(actor=alice, session_id=session.pk),
        lambda: services.round_start(actor=host, session_id=session.pk, prompt="Check-in"),
        lambda: services.round_skip(actor=host, session_id=session.pk),
    ):
        change()
        versions.append(state(session)["floor_version"])
    assert versions == sorted(set(versions))


def test_the_attendance_records_count_the_turns_each_person_took_or_passed(floor):
    session, host = floor["session"], floor["host"]
    users = dict(zip(floor["ids"], floor["members"], strict=True))
    for prompt in ("Check-in", "Check-out"):
        services.round_start(actor=host, session_id=session.pk, prompt=prompt)
        order = [turn["participant"] for turn in state(session)["round"]["turns"]]
        post(users[order[0]], session)
        services.round_pass(actor=users[order[1]], session_id=session.pk)
        services.round_skip(actor=host, session_id=session.pk)
    turns = {
        record.participant_id: record.turns
        for record in attendance_records(session=session, now=timezone.now())
    }
    assert turns == {floor["host_id"]: None, order[0]: 2, order[1]: 2, order[2]: None}


# --- When the session closes -------------------------------------------------------------------


def running_floor(floor):
    """A round running, a hand raised and a pause with a note, in ``floor``'s room."""
    session, host, (alice, *_) = floor["session"], floor["host"], floor["members"]
    services.hand_raise(actor=alice, session_id=session.pk)
    started = services.round_start(actor=host, session_id=session.pk, prompt="Check-in")
    services.room_pause(actor=host, session_id=session.pk, minutes=5, note="A breath")
    return started


def assert_floor_cleared(session, started):
    assert Round.objects.get(pk=started.pk).ended_at is not None
    assert not RoundTurn.objects.filter(round=started, state=RoundTurn.State.CURRENT).exists()
    room = Room.objects.get(session=session)
    assert (room.paused_at, room.pause_ends_at, room.pause_note) == (None, None, "")
    assert room.floor_participant_id is None
    assert not RaisedHand.objects.filter(session=session).exists()


def test_ending_the_session_ends_the_round_the_pause_and_the_hands(floor):
    session, host = floor["session"], floor["host"]
    started = running_floor(floor)

    services.room_end(actor=host, session_id=session.pk)

    assert_floor_cleared(session, started)


def test_the_close_sweep_ends_the_round_the_pause_and_the_hands(floor):
    session = floor["session"]
    started = running_floor(floor)
    ends_at = timezone.now() - timedelta(seconds=1)
    type(session).objects.filter(pk=session.pk).update(ends_at=ends_at)

    assert services.sessions_close_due() == 1

    assert_floor_cleared(session, started)
    assert Round.objects.get(pk=started.pk).ended_at == ends_at
