"""Reach a person's open sockets when something they were let in on changes (Channels checks
only at connect): a login that ends closes its sockets; a change to the person, their
enrollment or their rights on a group makes their sockets re-check at once.

Each socket also re-checks every chat.relay.RECHECK_SECONDS, for a push that was lost.
Suspensions, written with a queryset update, are pushed by moderation itself.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from accounts.models import User
from chat.services import login_revoke_sockets, person_recheck_sockets


@receiver(user_logged_out, dispatch_uid="chat.close_sockets_on_logout")
def _close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        login_revoke_sockets(session_key=session_key, reason="logged_out")


@receiver(
    post_delete, sender="usersessions.UserSession", dispatch_uid="chat.close_sockets_of_ended_login"
)
def _close_sockets_of_ended_login(sender: Any, instance: Any, **kwargs: Any) -> None:
    """allauth's device list ended this login ("log out other sessions"), or found it gone."""
    login_revoke_sockets(session_key=instance.session_key, reason="logged_out")


@receiver(post_save, sender="accounts.User", dispatch_uid="chat.recheck_on_person_change")
def _recheck_on_person_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Suspended, deactivated or erased: their sockets re-check at once (not for a login)."""
    update_fields = kwargs.get("update_fields")
    if not created and not (update_fields and set(update_fields) <= {"last_login"}):
        person_recheck_sockets(user_id=instance.pk)


@receiver(post_save, sender="groups.Enrollment", dispatch_uid="chat.recheck_on_enrollment_change")
def _recheck_on_enrollment_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Removed from the group or withdrawn: their sockets re-check at once."""
    if not created:
        person_recheck_sockets(user_id=instance.user_id)


@receiver(
    post_delete,
    sender="groups.TherapyGroupUserObjectPermission",
    dispatch_uid="chat.recheck_on_rights_revoked",
)
@receiver(
    post_save,
    sender="groups.TherapyGroupUserObjectPermission",
    dispatch_uid="chat.recheck_on_rights_granted",
)
def _recheck_on_rights_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A right on a group began or ended: their sockets re-check at once (ended: the
    facilitator's controls go; began without two-step login: the login policy closes them)."""
    person_recheck_sockets(user_id=instance.user_id)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="chat.recheck_on_role_change")
def _recheck_on_role_change(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    """A role granted or revoked (a privileged role needs two-step login: accounts.policy)."""
    if action in {"post_add", "post_remove", "post_clear"} and isinstance(instance, User):
        person_recheck_sockets(user_id=instance.pk)


@receiver(post_delete, sender="mfa.Authenticator", dispatch_uid="chat.recheck_on_factor_removed")
def _recheck_on_factor_removed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A second factor removed: a person who must use two-step login may no longer stay."""
    person_recheck_sockets(user_id=instance.user_id)
