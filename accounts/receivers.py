"""Adapters from Django's and allauth's signals to audit events. No other logic lives here."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_signed_up
from allauth.mfa.models import Authenticator
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.sessions import mark_login_time
from moderation.audit import AuditAction, audit_record


@receiver(user_signed_up, dispatch_uid="accounts.audit_signed_up")
def _audit_signed_up(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    audit_record(actor=user, action=AuditAction.ACCOUNT_SIGNED_UP, target=user)


@receiver(user_logged_in, dispatch_uid="accounts.audit_logged_in")
def _audit_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    mark_login_time(request, now=timezone.now())
    audit_record(actor=user, action=AuditAction.ACCOUNT_LOGIN_SUCCEEDED, target=user)


@receiver(user_logged_out, dispatch_uid="accounts.audit_logged_out")
def _audit_logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None and user.pk is not None:
        audit_record(actor=user, action=AuditAction.ACCOUNT_LOGGED_OUT, target=user)


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failed")
def _audit_login_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    # Record which account was tried (by id), never the address typed in.
    email = credentials.get("email") or credentials.get("username") or ""
    target = User.objects.filter(email__iexact=email).exclude(email="").first() if email else None
    audit_record(actor=None, action=AuditAction.ACCOUNT_LOGIN_FAILED, target=target)


def _is_second_factor(authenticator: Authenticator) -> bool:
    return authenticator.type in (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


# allauth's authenticator_added/removed signals fire after commit; the row's own signals fire
# inside the transaction that adds or removes it, which is where the audit event belongs.
@receiver(post_save, sender=Authenticator, dispatch_uid="accounts.audit_mfa_added")
def _audit_mfa_added(sender: Any, instance: Authenticator, created: bool, **kwargs: Any) -> None:
    if created and _is_second_factor(instance):
        audit_record(
            actor=instance.user,
            action=AuditAction.ACCOUNT_MFA_ENABLED,
            target=instance.user,
            details={"type": instance.type},
        )


@receiver(post_delete, sender=Authenticator, dispatch_uid="accounts.audit_mfa_removed")
def _audit_mfa_removed(sender: Any, instance: Authenticator, **kwargs: Any) -> None:
    if _is_second_factor(instance):
        audit_record(
            actor=instance.user,
            action=AuditAction.ACCOUNT_MFA_DISABLED,
            target=instance.user,
            details={"type": instance.type},
        )
