"""Crisis support: a message that suggests danger is still delivered, the writer privately gets
crisis lines, the facilitators get an alert, and one audit event is written (ids only)."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from moderation.crisis import CrisisSignal, PhraseListDetector, normalize
from moderation.models import AuditAction, AuditEvent
from tests.chat.conftest import connect, receive_until


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "i KILL MYSELF every day in my head",
        "Honestly I don't want to live anymore",
        "i dont want to live",
        "I don’t want to be here anymore.",
        "thinking about self-harm again",
        "Selfharm",
        "feeling suicidal tonight",
        "I can't go on",
        "wanna die",
        "Ending it all seems easier",
    ],
)
def test_signs_of_crisis_are_recognised_whatever_the_case_or_punctuation(text):
    assert PhraseListDetector.from_file().detect(text) is not None


@pytest.mark.parametrize(
    "text",
    ["I killed it at my presentation", "That film was to die for", "We skilled ourselves up", ""],
)
def test_ordinary_words_are_left_alone(text):
    assert PhraseListDetector.from_file().detect(text) is None


def test_normalising_removes_accents_apostrophes_and_punctuation():
    assert normalize("Don’t  STOP… self-harm!") == ["dont", "stop", "self", "harm"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_the_crisis_path_end_to_end_through_a_real_socket(room, therapist):
    host, _ = await connect(therapist, room["session"])
    alice, _ = await connect(room["alice"], room["session"])
    bob, _ = await connect(room["bob"], room["session"])
    for communicator in (host, alice, bob):
        await receive_until(communicator, "history.end")

    body = "I can't go on, I want to end my life"
    await alice.send_json_to({"type": "message.send", "client_id": str(uuid.uuid4()), "body": body})
    events = await receive_until(alice, "crisis.support")
    support = events[-1]
    assert support["lines"], "the writer is shown crisis lines"
    assert "not alone" in support["note"]

    delivered = (await receive_until(bob, "message"))[-1]
    assert delivered["body"] == body  # never silently blocked
    alert = (await receive_until(host, "crisis.alert"))[-1]
    assert alert["position"] == delivered["position"]
    # Nobody but the writer and the facilitators hears about it.
    assert all(e["type"] != "crisis.support" for e in await drain(bob))
    assert all(e["type"] != "crisis.alert" for e in await drain(alice))

    [event] = await sync_to_async(list)(AuditEvent.objects.filter(action=AuditAction.CRISIS_SIGNAL))
    assert event.actor_id == room["alice"].pk
    assert event.details == {"position": delivered["position"]}
    assert "life" not in str(event.details)
    for communicator in (host, alice, bob):
        await communicator.disconnect()


async def drain(communicator, seconds: float = 0.3) -> list[dict]:
    events = []
    while not await communicator.receive_nothing(timeout=seconds):
        events.append(await communicator.receive_json_from())
    return events


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_member_muted_in_the_group_cannot_write_in_its_rooms(room):
    from datetime import timedelta

    from django.utils import timezone

    from groups.models import Enrollment

    await sync_to_async(Enrollment.objects.filter(user=room["alice"]).update)(
        muted_until=timezone.now() + timedelta(days=2)
    )
    alice, _ = await connect(room["alice"], room["session"])
    await receive_until(alice, "history.end")
    await alice.send_json_to({"type": "message.send", "client_id": str(uuid.uuid4()), "body": "hi"})
    error = (await receive_until(alice, "error"))[-1]
    assert error["code"] == "muted"
    assert "muted in this group until" in error["message"]
    await alice.disconnect()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_danger_report_during_a_session_alerts_the_facilitators_in_the_room(
    room, therapist
):
    from moderation.services import report_file

    host, _ = await connect(therapist, room["session"])
    alice, _ = await connect(room["alice"], room["session"])
    bob, _ = await connect(room["bob"], room["session"])
    for communicator in (host, alice, bob):
        await receive_until(communicator, "history.end")
    await bob.send_json_to(
        {"type": "message.send", "client_id": str(uuid.uuid4()), "body": "I have pills"}
    )
    message = (await receive_until(alice, "message"))[-1]
    from chat.models import Message

    stored = await sync_to_async(Message.objects.select_related("author__user", "session").get)(
        position=message["position"], session=room["session"]
    )
    await sync_to_async(report_file)(
        actor=room["alice"], group=room["group"], reason="danger", message=stored
    )
    alert = (await receive_until(host, "report.alert"))[-1]
    assert alert["position"] == message["position"]
    assert all(e["type"] != "report.alert" for e in await drain(alice))
    for communicator in (host, alice, bob):
        await communicator.disconnect()


class EverythingWorriesMe:
    """A stand-in detector, chosen by the CRISIS_DETECTOR setting in the test below."""

    def detect(self, text: str) -> CrisisSignal | None:
        return CrisisSignal(phrase="anything")


@pytest.mark.django_db
def test_the_detector_is_chosen_by_a_setting(scene, settings):
    from chat.services import message_post
    from moderation.crisis import crisis_detector

    assert isinstance(crisis_detector(), PhraseListDetector)
    settings.CRISIS_DETECTOR = f"{__name__}.EverythingWorriesMe"
    assert isinstance(crisis_detector(), EverythingWorriesMe)
    assert crisis_detector() is crisis_detector()  # built once, not per message
    posted = message_post(
        actor=scene["author"], session_id=scene["session"].pk, body="Hello", client_id=uuid.uuid4()
    )
    [event] = AuditEvent.objects.filter(action=AuditAction.CRISIS_SIGNAL)
    assert event.details == {"position": posted.message.position}
    assert [notice["type"] for notice in posted.notices] == ["crisis.support"]
