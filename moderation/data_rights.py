"""Each person's data rights: a copy of their data, and erasure.

Erasure policy (also in docs/architecture.md):
- login becomes impossible at once (inactive, unusable password, every login session ended);
- the user row stays as an anonymous tombstone ("Former member <id>", no email), because audit
  rows and moderation records point at it and can never change;
- their places in groups end (freeing seats for the waiting list), groups they lead are
  archived (future sessions cancelled, members told), co-facilitations end;
- what they wrote is deleted: message bodies are emptied and their name in rooms and groups
  becomes "A former member"; the words of reports they filed are deleted (the reports stay,
  pseudonymised, for the people they were about);
- their check-out answers are deleted (their own words, which their facilitators read);
- facilitators' private notes about them are deleted (notes they wrote as a facilitator stay
  with the group, under the tombstone, until the group's retention deletes them);
- credentials, email addresses, two-step login, devices, calendar feed, pending notifications,
  reminders and reminder choices, kept group-finder answers, and their guardian rights rows
  are deleted;
- reports about them and sanctions on them stay, pointing at the tombstone (they are other
  people's records of what happened); the moderators' short reasons on them are kept;
- their audit rows stay as they are, including the client address (``ip_address``) recorded
  with each: the audit log is append-only (a PostgreSQL trigger refuses UPDATE), so the address
  is not cleared; it stays for as long as the audit row does.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.db import transaction
from django.utils import timezone
from guardian.models import UserObjectPermission

from accounts.exceptions import ServiceError
from accounts.models import GuidelinesAcceptance, Notification, TherapistApplication, User
from accounts.sessions import logins_end
from chat.models import Attendance, HiddenAuthor, Message, Participant, RoundTurn
from groups.models import (
    CalendarFeed,
    CheckOut,
    Enrollment,
    FinderAnswers,
    Invitation,
    Reminder,
    ReminderPreference,
    SessionNote,
    TherapyGroup,
    TherapyGroupUserObjectPermission,
)
from groups.services import co_facilitator_remove, enrollment_withdraw, group_archive
from moderation.audit import AuditAction, audit_record
from moderation.models import Report

FORMER_MEMBER = "A former member"


def personal_data(*, user: User) -> dict[str, Any]:
    """Everything Hearth holds about ``user``; other people appear only by pseudonym.

    Never facilitators' private notes, about them or written by them: those are the group's
    clinical record, for its facilitators only. Their own check-out answers are theirs, and
    in it; nobody else's are."""
    enrollments = Enrollment.objects.filter(user=user).select_related("group")
    messages = Message.objects.filter(author__user=user).select_related("session__group")
    attendance = Attendance.objects.filter(participant__user=user).select_related("session__group")
    reports = Report.objects.filter(reporter=user).select_related("group", "message__author")
    return {
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "email": user.email,
            "display_name": user.display_name,
            "time_zone": user.time_zone,
            "country": user.country,
            "joined": user.date_joined.isoformat(),
            "roles": sorted(role.value for role in user.roles),
        },
        "guidelines_accepted": [
            {"version": a.version.version, "accepted_at": a.accepted_at.isoformat()}
            for a in GuidelinesAcceptance.objects.filter(user=user).select_related("version")
        ],
        "therapist_applications": [
            {
                "licence_number": a.licence_number,
                "issuing_body": a.issuing_body,
                "jurisdiction": a.jurisdiction,
                "status": a.status,
                "submitted_at": a.submitted_at.isoformat(),
            }
            for a in TherapistApplication.objects.filter(user=user)
        ],
        "enrollments": [
            {
                "group": e.group.title,
                "name_in_group": e.pseudonym,
                "state": e.state,
                "since": e.created_at.isoformat(),
            }
            for e in enrollments
        ],
        "attendance": [
            {
                "group": a.session.group.title,
                "session_start": a.session.starts_at.isoformat(),
                "joined_at": a.joined_at.isoformat(),
                "left_at": a.left_at.isoformat() if a.left_at else None,
            }
            for a in attendance
        ],
        "messages": [
            {
                "group": m.session.group.title,
                "session_start": m.session.starts_at.isoformat(),
                "position": m.position,
                "written_at": m.created_at.isoformat(),
                "text": m.body if m.purged_at is None else None,
            }
            for m in messages.order_by("created_at")
        ],
        "round_turns": [
            {
                "group": t.round.session.group.title,
                "session_start": t.round.session.starts_at.isoformat(),
                "prompt": t.round.prompt,
                "turn": t.get_state_display(),
                "ended_at": t.ended_at.isoformat() if t.ended_at else None,
            }
            for t in RoundTurn.objects.filter(participant__user=user)
            .select_related("round__session__group")
            .order_by("round__started_at", "position")
        ],
        "check_outs": [
            {
                "group": c.session.group.title,
                "session_start": c.session.starts_at.isoformat(),
                "how_it_was": c.feeling,
                "how_it_was_in_words": c.get_feeling_display(),
                "your_words": c.words,
                "answered_at": c.created_at.isoformat(),
                "changed_at": c.updated_at.isoformat(),
            }
            for c in CheckOut.objects.filter(user=user)
            .select_related("session__group")
            .order_by("created_at")
        ],
        "finder_answers_kept": [
            {"answers": kept.answers, "kept_at": kept.kept_at.isoformat()}
            for kept in FinderAnswers.objects.filter(user=user)
        ],
        "reports_filed": [
            {
                "group": r.group.title,
                "about": r.message.author.name if r.message and r.message.author else None,
                "reason": r.reason,
                "your_words": r.note,
                "status": r.get_status_display(),
                "filed_at": r.created_at.isoformat(),
            }
            for r in reports
        ],
    }


def data_export_record(*, actor: User) -> None:
    audit_record(actor=actor, action=AuditAction.DATA_EXPORTED, target=actor)


def account_erase(*, actor: User) -> User:
    """Erase ``actor``'s account at their own request (see the module's policy)."""
    if not actor.is_active:
        raise ServiceError("This account is already closed.", code="inactive")
    now = timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.pk)
        for group in TherapyGroup.objects.filter(facilitator=user, archived_at__isnull=True):
            group_archive(actor=user, group=group)
        for group in TherapyGroup.objects.filter(co_facilitators=user):
            co_facilitator_remove(actor=user, group=group, user=user)
        for enrollment in Enrollment.objects.filter(user=user, state__in=["active", "waitlisted"]):
            enrollment_withdraw(actor=user, enrollment=enrollment)
        Enrollment.objects.filter(user=user).update(pseudonym=FORMER_MEMBER, removed_reason="")
        Participant.objects.filter(user=user).update(name=FORMER_MEMBER)
        Message.objects.filter(author__user=user, purged_at__isnull=True).update(
            body="", purged_at=now
        )
        Report.objects.filter(reporter=user).update(note="")
        SessionNote.objects.filter(subject=user).delete()
        CheckOut.objects.filter(user=user).delete()
        HiddenAuthor.objects.filter(owner=user).delete()
        HiddenAuthor.objects.filter(hidden_user=user).delete()
        TherapistApplication.objects.filter(user=user).update(
            licence_number="", issuing_body="", jurisdiction="", decision_reason=""
        )
        Invitation.objects.filter(invitee=user).update(email="")
        Invitation.objects.filter(invitee__isnull=True, email__iexact=user.email).delete()
        TherapyGroupUserObjectPermission.objects.filter(user=user).delete()
        UserObjectPermission.objects.filter(user=user).delete()
        CalendarFeed.objects.filter(user=user).delete()
        Reminder.objects.filter(user=user).delete()
        ReminderPreference.objects.filter(user=user).delete()
        FinderAnswers.objects.filter(user=user).delete()
        Notification.objects.filter(recipient=user).delete()
        EmailAddress.objects.filter(user=user).delete()
        Authenticator.objects.filter(user=user).delete()
        session_keys = list(
            UserSession.objects.filter(user=user).values_list("session_key", flat=True)
        )
        UserSession.objects.filter(user=user).delete()
        logins_end(session_keys)
        user.email = ""
        user.display_name = f"Former member {user.pk}"
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = False
        user.country = ""
        user.time_zone = "UTC"
        user.suspended_until = None
        user.last_login = None
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
        audit_record(actor=user, action=AuditAction.ACCOUNT_ERASED, target=user)
    return user
