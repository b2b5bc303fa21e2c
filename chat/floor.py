"""Reads for the floor of a room: the pause, the raised hands and the running round, as
every socket learns them at join (``room.state``) and in the events that follow each change
(``room.paused``, ``hands.state``, ``round.state``). Writes: ``chat.services.floor``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chat.models import Participant, RaisedHand, Room, Round, RoundTurn


def pause_active(room: Room, now: datetime) -> bool:
    """Whether the room is paused at ``now``: a pause ends by itself at its end time."""
    return room.paused_at is not None and (room.pause_ends_at is None or room.pause_ends_at > now)


def pause_state(room: Room, now: datetime) -> dict[str, Any] | None:
    """The pause as clients see it, or None when there is none now."""
    if not pause_active(room, now):
        return None
    return {
        "note": room.pause_note,
        "until": room.pause_ends_at.isoformat() if room.pause_ends_at else None,
    }


def hands_state(room: Room) -> dict[str, Any]:
    """The raised hands in the order they were raised, and who was last given the floor."""
    hands = (
        RaisedHand.objects.filter(session_id=room.session_id)
        .select_related("participant")
        .order_by("raised_at", "id")
    )
    floor = (
        Participant.objects.filter(pk=room.floor_participant_id).only("pk", "name").first()
        if room.floor_participant_id is not None
        else None
    )
    return {
        "queue": [
            {
                "participant": hand.participant_id,
                "name": hand.participant.name,
                "raised_at": hand.raised_at.isoformat(),
            }
            for hand in hands
        ],
        "floor": None if floor is None else {"participant": floor.pk, "name": floor.name},
    }


def running_round(session_id: int) -> Round | None:
    return Round.objects.filter(session_id=session_id, ended_at__isnull=True).first()


def round_state(session_id: int) -> dict[str, Any] | None:
    """The running round (its prompt, its order and what became of each turn), or None."""
    running = running_round(session_id)
    if running is None:
        return None
    turns = list(
        RoundTurn.objects.filter(round=running).select_related("participant").order_by("position")
    )
    current = next((t.participant_id for t in turns if t.state == RoundTurn.State.CURRENT), None)
    return {
        "id": running.pk,
        "prompt": running.prompt,
        "current": current,
        "turns": [
            {"participant": t.participant_id, "name": t.participant.name, "state": t.state}
            for t in turns
        ],
    }


def floor_state(room: Room, now: datetime) -> dict[str, Any]:
    """Everything about the floor for ``room.state``."""
    return {
        "floor_version": room.floor_version,
        "paused": pause_state(room, now),
        "hands": hands_state(room),
        "round": round_state(room.session_id),
    }
