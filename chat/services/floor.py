"""The floor of a room: the pause, raised hands and rounds.

Every change takes the room row's lock (as ``message_post`` does while storing, so a message
and a change of the floor are decided one after the other), raises the room's
``floor_version``, and broadcasts the new state of what changed after commit: ``room.paused``,
``hands.state`` or ``round.state``, each carrying the whole state and the version, so a client
drops one that arrives after a newer one. The facilitator's changes are audited in their
transaction, as the other controls (``chat.services.controls``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.text import bounded
from chat.broadcast import broadcast_on_commit, room_group
from chat.floor import hands_state, pause_active, pause_state, round_state, running_round
from chat.models import MAX_PAUSE_NOTE, MAX_PROMPT, Participant, RaisedHand, Room, Round, RoundTurn
from chat.selectors import RoomRefusal, present, room_access
from chat.services.access import facilitated_session as _facilitated_session
from groups.models import GroupSession
from moderation.audit import AuditAction, audit_record

MAX_PAUSE_MINUTES = 60


def _locked_room(session_id: int) -> Room:
    Room.objects.get_or_create(session_id=session_id)
    return Room.objects.select_for_update().get(session_id=session_id)


def _next_version(room: Room) -> int:
    room.floor_version += 1
    room.save(update_fields=["floor_version"])
    return room.floor_version


def _announce_pause(room: Room, now: datetime) -> None:
    broadcast_on_commit(
        room_group(room.session_id),
        {
            "type": "room.paused",
            "version": _next_version(room),
            "paused": pause_state(room, now),
        },
    )


def _announce_hands(room: Room) -> None:
    version = _next_version(room)
    broadcast_on_commit(
        room_group(room.session_id), {"type": "hands.state", "version": version} | hands_state(room)
    )


def _announce_round(session_id: int, version: int) -> None:
    broadcast_on_commit(
        room_group(session_id),
        {"type": "round.state", "version": version, "round": round_state(session_id)},
    )


def _audit(actor: User, action: AuditAction, session: GroupSession, **details: int) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=session,
        group_id=session.group_id,
        session_id=session.pk,
        details=details or None,
    )


def _own_participant(actor: User, session_id: int) -> Participant:
    """The actor's participant in this room, if they may be in it now."""
    try:
        access = room_access(user=actor, session_id=session_id, now=timezone.now())
    except RoomRefusal as refusal:
        raise ServiceError(refusal.message, code=refusal.code) from refusal
    if access.participant is None:
        raise ServiceError("Please join the room first.", code="not_joined")
    return access.participant


def _participant_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ServiceError("There is nobody like that in this room.", code="no_such_person")
    return int(value)


# --- The pause ---------------------------------------------------------------------------------


def room_pause(*, actor: User, session_id: int, minutes: object = None, note: object = "") -> Room:
    """Pause new messages from members, with an optional short note, until the facilitator
    resumes or, if ``minutes`` is given (1 to 60), until then. Pausing a paused room replaces
    its note and end."""
    session = _facilitated_session(actor, session_id)
    if minutes is not None and (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not 1 <= minutes <= MAX_PAUSE_MINUTES
    ):
        raise ServiceError(
            f"Say how many minutes, from 1 to {MAX_PAUSE_MINUTES}, or none.", code="pause_range"
        )
    text = bounded(note or "", limit=MAX_PAUSE_NOTE, noun="Notes", invalid_code="too_long")
    now = timezone.now()
    with transaction.atomic():
        room = _locked_room(session.pk)
        room.paused_at = now
        room.pause_ends_at = now + timedelta(minutes=minutes) if minutes is not None else None
        room.pause_note = text
        room.save(update_fields=["paused_at", "pause_ends_at", "pause_note"])
        _audit(actor, AuditAction.ROOM_PAUSED, session, **({"minutes": minutes} if minutes else {}))
        _announce_pause(room, now)
    return room


def room_resume(*, actor: User, session_id: int) -> Room:
    """End the pause now. A room that is not paused (or whose pause ran out) stays as it is."""
    session = _facilitated_session(actor, session_id)
    now = timezone.now()
    with transaction.atomic():
        room = _locked_room(session.pk)
        if room.paused_at is None:
            return room
        was_active = pause_active(room, now)
        room.paused_at = room.pause_ends_at = None
        room.pause_note = ""
        room.save(update_fields=["paused_at", "pause_ends_at", "pause_note"])
        if was_active:
            _audit(actor, AuditAction.ROOM_RESUMED, session)
            _announce_pause(room, now)
    return room


# --- Raised hands ------------------------------------------------------------------------------


def hand_raise(*, actor: User, session_id: int) -> RaisedHand:
    """Raise one's hand: it joins the end of the queue (raising it again keeps its place)."""
    participant = _own_participant(actor, session_id)
    with transaction.atomic():
        room = _locked_room(session_id)
        hand, created = RaisedHand.objects.get_or_create(
            session_id=session_id, participant=participant, defaults={"raised_at": timezone.now()}
        )
        if created:
            _announce_hands(room)
    return hand


def hand_lower(*, actor: User, session_id: int) -> None:
    """Lower one's own hand."""
    participant = _own_participant(actor, session_id)
    with transaction.atomic():
        room = _locked_room(session_id)
        deleted, _ = RaisedHand.objects.filter(
            session_id=session_id, participant=participant
        ).delete()
        if deleted:
            _announce_hands(room)


def hands_lower(
    *, actor: User, session_id: int, participant_id: object = None, everyone: bool = False
) -> int:
    """The facilitator lowers one person's hand, or ``everyone``'s. How many were lowered."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        room = _locked_room(session.pk)
        hands = RaisedHand.objects.filter(session=session)
        if not everyone:
            hands = hands.filter(participant_id=_participant_id(participant_id))
        deleted, _ = hands.delete()
        if deleted:
            _audit(actor, AuditAction.ROOM_HANDS_LOWERED, session, count=deleted)
            _announce_hands(room)
    return deleted


def floor_give(*, actor: User, session_id: int, participant_id: object = None) -> Participant:
    """Give the floor to the first raised hand, or to ``participant_id``: their hand goes
    down and everyone sees whose turn it is to speak."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        room = _locked_room(session.pk)
        if participant_id is None:
            first = RaisedHand.objects.filter(session=session).order_by("raised_at", "id").first()
            if first is None:
                raise ServiceError("No hands are raised.", code="no_hands")
            participant = first.participant
        else:
            found = Participant.objects.filter(
                session=session, pk=_participant_id(participant_id), removed_at__isnull=True
            ).first()
            if found is None:
                raise ServiceError("There is nobody like that in this room.", code="no_such_person")
            participant = found
        RaisedHand.objects.filter(session=session, participant=participant).delete()
        room.floor_participant = participant
        room.save(update_fields=["floor_participant"])
        _audit(actor, AuditAction.ROOM_FLOOR_GIVEN, session, participant=participant.pk)
        _announce_hands(room)
    return participant


def floor_open(*, actor: User, session_id: int) -> None:
    """Open the floor to everyone: end the running round, if any, and clear whom the floor
    was given to."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        room = _locked_room(session.pk)
        running = running_round(session.pk)
        if running is not None:
            _end_round(running, timezone.now())
            _audit(actor, AuditAction.ROUND_ENDED, session, round=running.pk)
            _announce_round(session.pk, _next_version(room))
        if room.floor_participant_id is not None:
            room.floor_participant = None
            room.save(update_fields=["floor_participant"])
            _announce_hands(room)


# --- Rounds ------------------------------------------------------------------------------------


def round_start(
    *, actor: User, session_id: int, prompt: object, take_part: object = False
) -> Round:
    """Start a round on ``prompt``: the members connected now (not the muted), in the order
    they are listed, the facilitator first if they ``take_part``. The first has the floor."""
    session = _facilitated_session(actor, session_id)
    text = bounded(prompt, limit=MAX_PROMPT, noun="Prompts", invalid_code="too_long")
    if not text:
        raise ServiceError("Say what the round is about.", code="invalid_prompt")
    now = timezone.now()
    with transaction.atomic():
        room = _locked_room(session.pk)
        if running_round(session.pk) is not None:
            raise ServiceError(
                "A round is already running. End it before starting another.",
                code="round_running",
            )
        order = [
            person["participant"]
            for person in present(session_id=session.pk, now=now)
            if not person["facilitator"] and not person["muted"]
        ]
        if take_part is True:
            own = Participant.objects.filter(session=session, user=actor).first()
            if own is not None:
                order.insert(0, own.pk)
        if not order:
            raise ServiceError("Nobody is here to take a turn yet.", code="nobody_here")
        started = Round.objects.create(
            session=session, prompt=text, started_by=actor, started_at=now
        )
        RoundTurn.objects.bulk_create(
            RoundTurn(
                round=started,
                participant_id=participant_id,
                position=index,
                state=RoundTurn.State.CURRENT if index == 1 else RoundTurn.State.WAITING,
            )
            for index, participant_id in enumerate(order, start=1)
        )
        _audit(actor, AuditAction.ROUND_STARTED, session, round=started.pk, turns=len(order))
        _announce_round(session.pk, _next_version(room))
    return started


def _require_round(session_id: int) -> Round:
    running = running_round(session_id)
    if running is None:
        raise ServiceError("No round is running.", code="no_round")
    return running


def _end_round(running: Round, now: datetime) -> None:
    running.ended_at = now
    running.save(update_fields=["ended_at"])
    # Whoever held the floor neither spoke nor passed: their turn stays "waiting" (not taken).
    RoundTurn.objects.filter(round=running, state=RoundTurn.State.CURRENT).update(
        state=RoundTurn.State.WAITING
    )


def _finish_turn(running: Round, turn: RoundTurn, state: str, now: datetime) -> None:
    """Close ``turn`` as ``state`` and give the floor to the next waiting turn, or end the
    round when nobody is left. Call with the room row locked."""
    was_current = turn.state == RoundTurn.State.CURRENT
    turn.state = state
    turn.ended_at = now
    turn.save(update_fields=["state", "ended_at"])
    if not was_current:
        return
    following = (
        RoundTurn.objects.filter(round=running, state=RoundTurn.State.WAITING)
        .order_by("position")
        .first()
    )
    if following is None:
        running.ended_at = now
        running.save(update_fields=["ended_at"])
        return
    following.state = RoundTurn.State.CURRENT
    following.save(update_fields=["state"])


def _current_turn(running: Round) -> RoundTurn | None:
    return RoundTurn.objects.filter(round=running, state=RoundTurn.State.CURRENT).first()


def round_reorder(*, actor: User, session_id: int, order: object) -> Round:
    """Set the order of the turns still to come: ``order`` lists participant ids. Those
    waiting and left out are taken out of the round; members of the room not yet in it are
    added. The turn being taken now, and those already taken, keep their places."""
    session = _facilitated_session(actor, session_id)
    if not isinstance(order, list) or len(order) > 500:
        raise ServiceError("Send the order as a list of people.", code="bad_order")
    ids = [_participant_id(value) for value in order]
    if len(set(ids)) != len(ids):
        raise ServiceError("Someone is in the order twice.", code="bad_order")
    with transaction.atomic():
        room = _locked_room(session.pk)
        running = _require_round(session.pk)
        turns = list(RoundTurn.objects.filter(round=running).order_by("position"))
        settled = [t for t in turns if t.state != RoundTurn.State.WAITING]
        if any(t.participant_id in ids for t in settled):
            raise ServiceError(
                "Someone in that order has already had their turn.", code="bad_order"
            )
        waiting = {t.participant_id: t for t in turns if t.state == RoundTurn.State.WAITING}
        known = set(
            Participant.objects.filter(
                session=session, pk__in=ids, removed_at__isnull=True
            ).values_list("pk", flat=True)
        )
        if known != set(ids):
            raise ServiceError("There is nobody like that in this room.", code="no_such_person")
        RoundTurn.objects.filter(round=running, state=RoundTurn.State.WAITING).exclude(
            participant_id__in=ids
        ).delete()
        reordered = [
            waiting.get(pid) or RoundTurn(round=running, participant_id=pid) for pid in ids
        ]
        for place, turn in enumerate([*settled, *reordered], start=1):
            turn.position = place
        RoundTurn.objects.bulk_update([*settled, *(t for t in reordered if t.pk)], ["position"])
        RoundTurn.objects.bulk_create([t for t in reordered if t.pk is None])
        if not any(t.state == RoundTurn.State.CURRENT for t in settled) and reordered:
            reordered[0].state = RoundTurn.State.CURRENT
            reordered[0].save(update_fields=["state"])
        _audit(actor, AuditAction.ROUND_REORDERED, session, round=running.pk, turns=len(ids))
        if _current_turn(running) is None:  # nobody left to come
            _end_round(running, timezone.now())
        _announce_round(session.pk, _next_version(room))
    return running


def round_skip(*, actor: User, session_id: int) -> Round:
    """Move on: the turn being taken now is recorded as skipped; the next person has the
    floor (or the round ends)."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        room = _locked_room(session.pk)
        running = _require_round(session.pk)
        turn = _current_turn(running)
        if turn is not None:
            _finish_turn(running, turn, RoundTurn.State.SKIPPED, timezone.now())
            _audit(
                actor,
                AuditAction.ROUND_TURN_SKIPPED,
                session,
                round=running.pk,
                participant=turn.participant_id,
            )
        _announce_round(session.pk, _next_version(room))
    return running


def round_end(*, actor: User, session_id: int) -> Round:
    """End the running round now; everyone may send again."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        room = _locked_room(session.pk)
        running = _require_round(session.pk)
        _end_round(running, timezone.now())
        _audit(actor, AuditAction.ROUND_ENDED, session, round=running.pk)
        _announce_round(session.pk, _next_version(room))
    return running


def _own_turn(actor: User, session_id: int) -> tuple[Room, Round, RoundTurn]:
    participant = _own_participant(actor, session_id)
    room = _locked_room(session_id)
    running = _require_round(session_id)
    turn = RoundTurn.objects.filter(round=running, participant=participant).first()
    if turn is None:
        raise ServiceError("You are not in this round.", code="not_in_round")
    return room, running, turn


def round_pass(*, actor: User, session_id: int) -> RoundTurn:
    """Pass one's turn, now or ahead of it: nothing is asked of them in this round."""
    with transaction.atomic():
        room, running, turn = _own_turn(actor, session_id)
        if turn.state not in (RoundTurn.State.CURRENT, RoundTurn.State.WAITING):
            raise ServiceError("You have had your turn in this round.", code="turn_taken")
        _finish_turn(running, turn, RoundTurn.State.PASSED, timezone.now())
        _announce_round(session_id, _next_version(room))
    return turn


def round_done(*, actor: User, session_id: int) -> RoundTurn:
    """End one's own turn as spoken ("Done")."""
    with transaction.atomic():
        room, running, turn = _own_turn(actor, session_id)
        if turn.state != RoundTurn.State.CURRENT:
            raise ServiceError("It is not your turn.", code="not_your_turn")
        _finish_turn(running, turn, RoundTurn.State.SPOKEN, timezone.now())
        _announce_round(session_id, _next_version(room))
    return turn


def round_turn_spoken(*, session_id: int, participant_id: int, now: datetime) -> None:
    """The person whose turn it is sent a message: their turn ends as spoken. Call from
    ``message_post``, with the room row locked, in its transaction."""
    running = running_round(session_id)
    if running is None:
        return
    turn = RoundTurn.objects.filter(
        round=running, participant_id=participant_id, state=RoundTurn.State.CURRENT
    ).first()
    if turn is None:
        return
    _finish_turn(running, turn, RoundTurn.State.SPOKEN, now)
    with connection.cursor() as cursor:  # the row is locked already: one statement
        cursor.execute(
            f"UPDATE {Room._meta.db_table} SET floor_version = floor_version + 1 "  # noqa: S608
            "WHERE session_id = %s RETURNING floor_version",
            [session_id],
        )
        version = int(cursor.fetchone()[0])
    _announce_round(session_id, version)


def floor_forget(*, session_id: int, participant_id: int) -> None:
    """A member was removed from the room: their hand goes down, and their turn in a running
    round is skipped (if it was theirs, the next person has the floor). Call with the room
    row locked, in the removal's transaction."""
    room = Room.objects.get(session_id=session_id)
    if RaisedHand.objects.filter(session_id=session_id, participant_id=participant_id).delete()[0]:
        _announce_hands(room)
    running = running_round(session_id)
    turn = (
        RoundTurn.objects.filter(
            round=running,
            participant_id=participant_id,
            state__in=[RoundTurn.State.CURRENT, RoundTurn.State.WAITING],
        ).first()
        if running is not None
        else None
    )
    if running is not None and turn is not None:
        _finish_turn(running, turn, RoundTurn.State.SKIPPED, timezone.now())
        _announce_round(session_id, _next_version(room))


def floor_close(session_id: int, now: datetime) -> None:
    """Clear the floor of a session that has closed: end a running round, end a pause and
    forget its note, lower every hand. Call inside the closing transaction; no broadcast (the
    room is told ``room.closed``), no audit of its own (the close is audited)."""
    running = running_round(session_id)
    if running is not None:
        _end_round(running, now)
    Room.objects.filter(session_id=session_id).update(
        paused_at=None, pause_ends_at=None, pause_note="", floor_participant=None
    )
    RaisedHand.objects.filter(session_id=session_id).delete()


def turn_holder_name(*, session_id: int) -> str:
    """The name of the person whose turn it is in the running round ("" if none)."""
    turn = (
        RoundTurn.objects.filter(
            round__session_id=session_id,
            round__ended_at__isnull=True,
            state=RoundTurn.State.CURRENT,
        )
        .select_related("participant")
        .first()
    )
    return turn.participant.name if turn is not None else ""
