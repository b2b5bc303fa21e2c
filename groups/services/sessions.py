"""Scheduling sessions and series in the group's time zone; moving and cancelling them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import Notification, User
from accounts.notifications import notify
from accounts.text import bounded
from config.page_cache import pages_changed
from groups import rights
from groups.models import (
    MAX_EXTENSION,
    MAX_SESSION,
    MIN_SESSION,
    REASON_MAX,
    Enrollment,
    GroupSession,
    SessionSeries,
    TherapyGroup,
)
from groups.scheduling import (
    Recurrence,
    check_within_horizon,
    out_of_range,
    to_local,
    to_utc,
)
from groups.services._common import _require_active, _require_right
from groups.services.listing import store_next_session
from moderation.audit import AuditAction, audit_record

# --- Sessions -------------------------------------------------------------------------------------


def _check_duration(duration: timedelta) -> None:
    if not MIN_SESSION <= duration <= MAX_SESSION:
        raise ServiceError(
            "A session lasts between 15 minutes and 4 hours.", code="duration_out_of_range"
        )


def _check_no_overlap(
    *, facilitator: User, windows: list[tuple[datetime, datetime]], exclude: list[int]
) -> None:
    """Refuse if the facilitator already leads a live session in any window.

    Call with the facilitator's row locked, so two schedulers cannot both pass.
    """
    clash = Q()
    for start, end in windows:
        clash |= Q(starts_at__lt=end, ends_at__gt=start)
    existing = (
        GroupSession.objects.filter(facilitator=facilitator, cancelled_at__isnull=True)
        .filter(clash)
        .exclude(pk__in=exclude)
        .select_related("group")
        .order_by("starts_at")
        .first()
    )
    if existing is not None:
        when = to_local(existing.starts_at, time_zone=existing.group.time_zone)
        raise ServiceError(
            f"{facilitator.display_name} already leads a session at that time "
            f"({when:%A %-d %B, %H:%M}, {existing.group.time_zone}). Sessions of one "
            "facilitator cannot overlap.",
            code="overlap",
        )


def _save_sessions(sessions: list[GroupSession]) -> list[GroupSession]:
    try:
        with transaction.atomic():
            pages_changed()  # bulk_create sends no post_save
            return GroupSession.objects.bulk_create(sessions)
    except IntegrityError as error:  # the database's overlap backstop, under a race
        raise ServiceError(
            "Another session of this facilitator was just scheduled at that time.",
            code="overlap",
        ) from error


def session_schedule(
    *,
    actor: User,
    group: TherapyGroup,
    starts_local: datetime,
    duration_minutes: int,
    room_opens_minutes: int = 10,
) -> GroupSession:
    """Schedule one session at a wall-clock time in the group's time zone."""
    [session] = _schedule(
        actor=actor,
        group=group,
        starts_local=[starts_local],
        duration_minutes=duration_minutes,
        room_opens_minutes=room_opens_minutes,
        series=None,
    )
    return session


def series_schedule(
    *,
    actor: User,
    group: TherapyGroup,
    first_start_local: datetime,
    duration_minutes: int,
    recurrence: Recurrence,
    room_opens_minutes: int = 10,
) -> list[GroupSession]:
    """Schedule a weekly series ("Tuesdays 18:00 for 8 weeks") in the group's time zone."""
    check_within_horizon([first_start_local], time_zone=group.time_zone, now=timezone.now())
    starts = recurrence.starts(first_start_local)
    with transaction.atomic():
        series = SessionSeries.objects.create(
            group=group,
            rule=recurrence.rule(),
            first_date=first_start_local.date(),
            start_time=first_start_local.time(),
            duration_minutes=duration_minutes,
            time_zone=group.time_zone,
        )
        return _schedule(
            actor=actor,
            group=group,
            starts_local=starts,
            duration_minutes=duration_minutes,
            room_opens_minutes=room_opens_minutes,
            series=series,
        )


def _schedule(
    *,
    actor: User,
    group: TherapyGroup,
    starts_local: list[datetime],
    duration_minutes: int,
    room_opens_minutes: int,
    series: SessionSeries | None,
) -> list[GroupSession]:
    _require_active(actor)
    duration = timedelta(minutes=duration_minutes)
    _check_duration(duration)
    if not 0 <= room_opens_minutes <= 60:
        raise ServiceError("The room can open up to 60 minutes before the start.", code="lead_time")
    now = timezone.now()
    check_within_horizon(starts_local, time_zone=group.time_zone, now=now)
    windows = _windows(starts_local, time_zone=group.time_zone, duration=duration)
    if windows[0][0] <= now:
        raise ServiceError("Please choose a time in the future.", code="in_the_past")
    with transaction.atomic():
        locked = TherapyGroup.objects.select_for_update().get(pk=group.pk)
        _require_right(actor, locked, rights.MANAGE_SESSIONS)
        if locked.is_archived:
            raise ServiceError("This group is archived.", code="archived")
        facilitator = User.objects.select_for_update().get(pk=locked.facilitator_id)
        _check_no_overlap(facilitator=facilitator, windows=windows, exclude=[])
        sessions = _save_sessions(
            [
                GroupSession(
                    group=locked,
                    series=series,
                    facilitator=facilitator,
                    starts_at=start,
                    ends_at=end,
                    room_opens_minutes=room_opens_minutes,
                )
                for start, end in windows
            ]
        )
        for session in sessions:
            audit_record(
                actor=actor,
                action=AuditAction.SESSION_SCHEDULED,
                target=session,
                group_id=locked.pk,
                session_id=session.pk,
                details={"series": series.pk if series else None},
            )
        store_next_session(locked, now=now)
    return sessions


def _windows(
    starts_local: list[datetime], *, time_zone: str, duration: timedelta
) -> list[tuple[datetime, datetime]]:
    """The (start, end) instants of wall-clock starts in ``time_zone``."""
    windows = []
    for local in starts_local:
        start = to_utc(local, time_zone=time_zone)
        try:
            windows.append((start, start + duration))
        except OverflowError as error:  # the very end of the calendar; the horizon prevents it
            raise out_of_range() from error
    return windows


def _rest_of_series(session: GroupSession) -> list[GroupSession]:
    if session.series_id is None:
        return [session]
    return list(
        GroupSession.objects.filter(
            series_id=session.series_id,
            starts_at__gte=session.starts_at,
            cancelled_at__isnull=True,
        ).order_by("starts_at")
    )


def _members_to_tell(group: TherapyGroup) -> list[int]:
    return list(
        Enrollment.objects.filter(group=group, state=Enrollment.State.ACTIVE).values_list(
            "user_id", flat=True
        )
    )


def _tell_members(*, group: TherapyGroup, session: GroupSession, kind: Notification.Kind) -> None:
    for user_id in _members_to_tell(group):
        notify(kind=kind, recipient=User(pk=user_id), group_id=group.pk, session_id=session.pk)


def _cancel_one(*, actor: User, session: GroupSession, reason: str, now: datetime) -> None:
    session.cancelled_at = now
    session.cancel_reason = reason
    session.sequence += 1
    session.save(update_fields=["cancelled_at", "cancel_reason", "sequence"])
    audit_record(
        actor=actor,
        action=AuditAction.SESSION_CANCELLED,
        target=session,
        group_id=session.group_id,
        session_id=session.pk,
    )
    _tell_members(group=session.group, session=session, kind=Notification.Kind.SESSION_CANCELLED)


def _checked_reason(actor: User, reason: str) -> str:
    _require_active(actor)
    reason = bounded(reason, limit=REASON_MAX, noun="Reasons")
    if not reason:
        raise ServiceError("Please give members a short reason.", code="reason_required")
    return reason


def _lock_for_change(
    *, actor: User, session: GroupSession, now: datetime, verb: str
) -> tuple[TherapyGroup, GroupSession]:
    """Lock the group and the session for a change, refusing what can no longer change.

    Call inside a transaction.
    """
    group = TherapyGroup.objects.select_for_update().get(pk=session.group_id)
    _require_right(actor, group, rights.MANAGE_SESSIONS)
    locked = GroupSession.objects.select_for_update().get(pk=session.pk)
    if locked.cancelled_at is not None:
        raise ServiceError("This session was already cancelled.", code="cancelled")
    if locked.starts_at <= now:
        raise ServiceError(
            f"This session has already started, so it can no longer be {verb}.", code="started"
        )
    locked.group = group
    return group, locked


def session_cancel(
    *, actor: User, session: GroupSession, reason: str, rest_of_series: bool = False
) -> list[GroupSession]:
    """Cancel a session (or it and the rest of its series), telling the members why."""
    reason = _checked_reason(actor, reason)
    now = timezone.now()
    with transaction.atomic():
        group, first = _lock_for_change(actor=actor, session=session, now=now, verb="cancelled")
        targets = _rest_of_series(first) if rest_of_series else [first]
        for target in targets:
            target.group = group
            _cancel_one(actor=actor, session=target, reason=reason, now=now)
        store_next_session(group, now=now)
    return targets


def session_reschedule(
    *,
    actor: User,
    session: GroupSession,
    starts_local: datetime,
    duration_minutes: int,
    reason: str,
    rest_of_series: bool = False,
) -> list[GroupSession]:
    """Move a session (or it and the rest of its series) to a new wall-clock time.

    For the rest of a series, each later session moves by the same wall-clock shift in the
    group's time zone, so "Tuesdays 18:00" becomes "Wednesdays 19:00" across clock changes.
    """
    reason = _checked_reason(actor, reason)
    duration = timedelta(minutes=duration_minutes)
    _check_duration(duration)
    now = timezone.now()
    with transaction.atomic():
        group, session = _lock_for_change(actor=actor, session=session, now=now, verb="moved")
        check_within_horizon([starts_local], time_zone=group.time_zone, now=now)
        shift = starts_local - to_local(session.starts_at, time_zone=group.time_zone)
        targets = _rest_of_series(session) if rest_of_series else [session]
        try:
            locals_ = [to_local(t.starts_at, time_zone=group.time_zone) + shift for t in targets]
        except OverflowError as error:  # the horizon above keeps this from happening
            raise out_of_range() from error
        check_within_horizon(locals_, time_zone=group.time_zone, now=now)
        windows = _windows(locals_, time_zone=group.time_zone, duration=duration)
        moves = [
            (target, start, end) for target, (start, end) in zip(targets, windows, strict=True)
        ]
        if moves[0][1] <= now:
            raise ServiceError("Please choose a time in the future.", code="in_the_past")
        facilitator = User.objects.select_for_update().get(pk=session.facilitator_id)
        _check_no_overlap(
            facilitator=facilitator,
            windows=[(start, end) for _, start, end in moves],
            exclude=[target.pk for target, _, _ in moves],
        )
        try:
            with transaction.atomic():
                for target, start, end in moves:
                    target.starts_at, target.ends_at = start, end
                    target.rescheduled_at, target.reschedule_reason = now, reason
                    target.sequence += 1
                    target.save(
                        update_fields=[
                            "starts_at",
                            "ends_at",
                            "rescheduled_at",
                            "reschedule_reason",
                            "sequence",
                        ]
                    )
        except IntegrityError as error:
            raise ServiceError(
                "Another session of this facilitator was just scheduled at that time.",
                code="overlap",
            ) from error
        for target, _, _ in moves:
            audit_record(
                actor=actor,
                action=AuditAction.SESSION_RESCHEDULED,
                target=target,
                group_id=group.pk,
                session_id=target.pk,
            )
            _tell_members(group=group, session=target, kind=Notification.Kind.SESSION_RESCHEDULED)
        store_next_session(group, now=now)
    return [target for target, _, _ in moves]


MAX_EXTENSION_MINUTES = int(MAX_EXTENSION.total_seconds() // 60)


def session_extend(*, actor: User, session: GroupSession, minutes: int) -> GroupSession:
    """Make a live session last up to 15 minutes longer. Each session can be extended once."""
    _require_active(actor)
    if not 1 <= minutes <= MAX_EXTENSION_MINUTES:
        raise ServiceError(
            f"A session can be extended by 1 to {MAX_EXTENSION_MINUTES} minutes.",
            code="extension_range",
        )
    now = timezone.now()
    with transaction.atomic():
        group = TherapyGroup.objects.select_for_update().get(pk=session.group_id)
        _require_right(actor, group, rights.FACILITATE)
        locked = GroupSession.objects.select_for_update().get(pk=session.pk)
        if locked.status_at(now) not in (GroupSession.Status.OPEN, GroupSession.Status.LIVE):
            raise ServiceError(
                "Only a session whose room is open can be extended.", code="not_open"
            )
        if locked.extended_at is not None:
            raise ServiceError("This session has already been extended once.", code="extended")
        new_end = locked.ends_at + timedelta(minutes=minutes)
        facilitator = User.objects.select_for_update().get(pk=locked.facilitator_id)
        _check_no_overlap(
            facilitator=facilitator, windows=[(locked.ends_at, new_end)], exclude=[locked.pk]
        )
        locked.ends_at, locked.extended_at = new_end, now
        locked.sequence += 1
        locked.save(update_fields=["ends_at", "extended_at", "sequence"])
        audit_record(
            actor=actor,
            action=AuditAction.SESSION_EXTENDED,
            target=locked,
            group_id=group.pk,
            session_id=locked.pk,
            details={"minutes": minutes},
        )
        store_next_session(group, now=now)
    return locked


def session_end(*, actor: User, session: GroupSession) -> GroupSession:
    """End a session now: its room closes for everyone (ending twice changes nothing)."""
    _require_active(actor)
    now = timezone.now()
    with transaction.atomic():
        group = TherapyGroup.objects.select_for_update().get(pk=session.group_id)
        _require_right(actor, group, rights.FACILITATE)
        locked = GroupSession.objects.select_for_update().get(pk=session.pk)
        if locked.status_at(now) in (GroupSession.Status.CLOSED, GroupSession.Status.CANCELLED):
            return locked
        if locked.status_at(now) == GroupSession.Status.UPCOMING:
            raise ServiceError(
                "This session has not opened yet; cancel it instead.", code="not_open"
            )
        locked.closed_at = now
        locked.save(update_fields=["closed_at"])
        audit_record(
            actor=actor,
            action=AuditAction.SESSION_ENDED,
            target=locked,
            group_id=group.pk,
            session_id=locked.pk,
        )
        store_next_session(group, now=now)
    return locked
