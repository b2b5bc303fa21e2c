"""The end of a room: nothing is stored after it, and attendance ends when people really left."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.exceptions import ServiceError
from chat.models import Attendance, Message
from chat.selectors import PRESENCE_TIMEOUT, room_access
from chat.services import message_post, messages, room_end, room_join, sessions_close_due
from groups.models import GroupSession


def join(user, session, channel_name: str) -> None:
    now = timezone.now()
    room_join(
        access=room_access(user=user, session_id=session.pk, now=now),
        channel_name=channel_name,
        now=now,
    )


def post(user, session, body: str = "hello"):
    return message_post(actor=user, session_id=session.pk, body=body, client_id=uuid.uuid4())


# --- Attendance when the sweep closes a room ---------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_ends_a_dead_connection_when_it_was_last_seen_and_a_live_one_at_the_end(room):
    session, now = room["session"], timezone.now()
    join(room["alice"], session, "alive")
    join(room["bob"], session, "died")
    ends_at = now - timedelta(seconds=5)
    died_at = ends_at - timedelta(minutes=20)  # its process died long before the end
    GroupSession.objects.filter(pk=session.pk).update(ends_at=ends_at)
    Attendance.objects.filter(channel_name="alive").update(last_seen_at=now)
    Attendance.objects.filter(channel_name="died").update(last_seen_at=died_at)

    assert sessions_close_due(now=now) == 1

    rows = dict(Attendance.objects.values_list("channel_name", "left_at"))
    assert rows == {"alive": ends_at, "died": died_at}


@pytest.mark.django_db
def test_a_connection_last_seen_after_the_end_is_ended_at_the_end(room):
    session, now = room["session"], timezone.now()
    join(room["alice"], session, "late")
    ends_at = now - PRESENCE_TIMEOUT * 4
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=ends_at - timedelta(hours=1), ends_at=ends_at
    )
    # Stale by the sweep's clock, but seen after the end: it was there until the end.
    Attendance.objects.update(last_seen_at=ends_at + PRESENCE_TIMEOUT)

    sessions_close_due(now=now)

    assert Attendance.objects.get().left_at == ends_at


# --- Ending and sending at the same moment -----------------------------------------------------


def in_thread(target) -> tuple[threading.Thread, dict]:
    """Run ``target`` in a thread with its own database connection; its outcome lands in the
    returned dict (``"result"`` or ``"error"``)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except Exception as error:  # the test inspects it
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_send_checked_before_the_end_but_stored_after_it_is_refused(room, therapist, monkeypatch):
    session = room["session"]
    join(room["alice"], session, "a")
    checked, go = threading.Event(), threading.Event()
    real_limit = messages._within_rate_limit

    def slow_limit(**kwargs):
        checked.set()  # room_access has said yes; the room lock is not taken yet
        assert go.wait(10)
        return real_limit(**kwargs)

    monkeypatch.setattr(messages, "_within_rate_limit", slow_limit)
    sender, outcome = in_thread(lambda: post(room["alice"], session, "just in time?"))
    assert checked.wait(10)
    room_end(actor=therapist, session_id=session.pk)
    go.set()
    sender.join(timeout=10)

    assert isinstance(outcome.get("error"), ServiceError), outcome
    assert outcome["error"].code == "closed"
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_end_waits_for_a_message_being_stored_and_nothing_is_stored_after_it(
    room, therapist, monkeypatch
):
    session = room["session"]
    join(room["alice"], session, "a")
    storing, go = threading.Event(), threading.Event()
    real_checks = messages.run_message_checks

    def slow_checks(message, access):
        storing.set()  # inside the transaction, holding the room row
        assert go.wait(10)
        return real_checks(message, access)

    monkeypatch.setattr(messages, "run_message_checks", slow_checks)
    sender, sent = in_thread(lambda: post(room["alice"], session, "made it"))
    assert storing.wait(10)
    ender, ended = in_thread(lambda: room_end(actor=therapist, session_id=session.pk))
    wait_until(someone_waits_for_a_lock)  # room_end queues behind the message
    assert ender.is_alive()
    go.set()
    sender.join(timeout=10)
    ender.join(timeout=10)

    assert "error" not in sent and "error" not in ended, (sent, ended)
    message = sent["result"].message
    closed_at = GroupSession.objects.get(pk=session.pk).closed_at
    assert closed_at is not None and message.created_at <= closed_at
    monkeypatch.setattr(messages, "run_message_checks", real_checks)
    with pytest.raises(ServiceError) as refused:
        post(room["alice"], session, "too late")
    assert refused.value.code == "closed"
    assert list(Message.objects.values_list("body", flat=True)) == ["made it"]
