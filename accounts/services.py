"""Writes about people: profile, roles, therapist verification and guidelines.

Every function is keyword-only, takes the ``actor`` and records its audit event in the same
transaction as the change. Refusals raise ``ServiceError`` with a message for the person.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.hooks import run_role_revoked_hooks
from accounts.models import (
    APPLICATION_REASON_MAX,
    GUIDELINES_STANDING,
    ISSUING_BODY_MAX,
    JURISDICTION_MAX,
    LICENCE_NUMBER_MAX,
    GuidelinesAcceptance,
    GuidelinesVersion,
    TherapistApplication,
    User,
)
from accounts.pseudonyms import validate_chosen_name
from accounts.roles import Role
from accounts.selectors import display_name_is_taken, guidelines_current
from accounts.text import bounded, clean_text
from moderation.audit import AuditAction, audit_record

# --- Profile -------------------------------------------------------------------------------------


def profile_update(*, actor: User, display_name: str, time_zone: str, country: str) -> User:
    """Change how ``actor`` appears to others and where they are."""
    display_name = clean_text(display_name)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.pk)
        try:
            validate_chosen_name(display_name, chooser=user)
        except ValidationError as error:
            raise ServiceError(" ".join(error.messages), code="sounds_official") from error
        if display_name.casefold() != user.display_name.casefold() and display_name_is_taken(
            name=display_name, exclude_user=user
        ):
            raise ServiceError(
                "Someone already uses that name. Please choose another.", code="name_taken"
            )
        changed = [
            field
            for field, value in (
                ("display_name", display_name),
                ("time_zone", time_zone),
                ("country", country),
            )
            if getattr(user, field) != value
        ]
        if not changed:
            return user
        user.display_name, user.time_zone, user.country = display_name, time_zone, country
        user.full_clean(exclude=["password", "email"])
        user.save(update_fields=changed)
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_PROFILE_CHANGED,
            target=user,
            details={"fields": changed},
        )
    return user


# --- Roles ---------------------------------------------------------------------------------------


def role_group(role: Role) -> Group:
    group, _ = Group.objects.get_or_create(name=role.value)
    return group


def _require_staff(actor: User) -> None:
    if not (actor.is_active and (actor.is_superuser or actor.has_role(Role.STAFF))):
        raise ServiceError("Only staff can change roles.", code="forbidden")


def role_grant(*, actor: User, user: User, role: Role) -> None:
    """Give ``user`` a role. Staff grant roles; only a superuser makes someone staff.

    The therapist role is granted by verifying an application (``therapist_application_verify``),
    the peer supervisor role only to verified therapists.
    """
    _require_staff(actor)
    if role == Role.STAFF and not actor.is_superuser:
        raise ServiceError("Only a superuser can appoint staff.", code="forbidden")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_active:
            raise ServiceError("This account is not active.", code="inactive")
        if role in locked.roles:
            return
        if role == Role.PEER_SUPERVISOR and Role.THERAPIST not in locked.roles:
            raise ServiceError(
                "Peer supervisors are appointed from verified therapists only.",
                code="not_a_therapist",
            )
        locked.groups.add(role_group(role))
        if role == Role.STAFF and not locked.is_staff:
            locked.is_staff = True
            locked.save(update_fields=["is_staff"])
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_ROLE_GRANTED,
            target=locked,
            details={"role": role.value},
        )
    user.__dict__.pop("roles", None)


def role_revoke(*, actor: User, user: User, role: Role) -> None:
    """Take a role away. Revoking the therapist role also ends peer supervision.

    What the role allowed elsewhere ends in the same transaction: the registered hooks (see
    ``accounts.hooks``) take away, for example, the rights to lead groups.
    """
    _require_staff(actor)
    if role == Role.STAFF and not actor.is_superuser:
        raise ServiceError("Only a superuser can remove staff.", code="forbidden")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        held = set(locked.groups.values_list("name", flat=True))
        to_revoke = [role]
        if role == Role.THERAPIST:
            to_revoke.append(Role.PEER_SUPERVISOR)
        revoked: set[Role] = set()
        for each in to_revoke:
            if each.value not in held:
                continue
            revoked.add(each)
            locked.groups.remove(role_group(each))
            if each == Role.STAFF and locked.is_staff and not locked.is_superuser:
                locked.is_staff = False
                locked.save(update_fields=["is_staff"])
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_ROLE_REVOKED,
                target=locked,
                details={"role": each.value},
            )
        if revoked:
            locked.__dict__.pop("roles", None)
            run_role_revoked_hooks(actor=actor, user=locked, roles=frozenset(revoked))
    user.__dict__.pop("roles", None)


def roles_sync_permissions(*, role_permissions: dict[Role, set[str]]) -> None:
    """Make each role's Django group hold exactly the given ``app_label.codename`` permissions.

    Run after every migrate; each app declares what its roles may do in
    ``AppConfig.role_permissions``.
    """
    for role in Role:
        wanted = role_permissions.get(role, set())
        perms = []
        for dotted in sorted(wanted):
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is None:
                raise LookupError(f"Role {role.value} names an unknown permission {dotted}.")
            perms.append(perm)
        role_group(role).permissions.set(perms)


# --- Therapist verification ----------------------------------------------------------------------


def therapist_application_submit(
    *, actor: User, licence_number: str, issuing_body: str, jurisdiction: str
) -> TherapistApplication:
    """Ask staff to verify ``actor`` as a therapist."""
    licence_number = bounded(licence_number, limit=LICENCE_NUMBER_MAX, noun="Licence numbers")
    issuing_body = bounded(
        issuing_body, limit=ISSUING_BODY_MAX, noun="The name of the issuing body"
    )
    jurisdiction = bounded(jurisdiction, limit=JURISDICTION_MAX, noun="The place where it is valid")
    if actor.has_role(Role.THERAPIST):
        raise ServiceError("You are already a verified therapist.", code="already_therapist")
    with transaction.atomic():
        User.objects.select_for_update().get(pk=actor.pk)
        if TherapistApplication.objects.filter(
            user=actor, status=TherapistApplication.Status.PENDING
        ).exists():
            raise ServiceError(
                "Your application is already waiting for review. We will email you once "
                "staff have looked at it.",
                code="already_pending",
            )
        application = TherapistApplication.objects.create(
            user=actor,
            licence_number=licence_number,
            issuing_body=issuing_body,
            jurisdiction=jurisdiction,
        )
        audit_record(actor=actor, action=AuditAction.THERAPIST_APPLIED, target=application)
    return application


def _decide(
    *, actor: User, application: TherapistApplication, status: str, reason: str
) -> TherapistApplication:
    _require_staff(actor)
    locked = TherapistApplication.objects.select_for_update().get(pk=application.pk)
    if locked.status != TherapistApplication.Status.PENDING:
        raise ServiceError("This application has already been decided.", code="already_decided")
    if locked.user_id == actor.pk:
        raise ServiceError("Staff cannot decide their own application.", code="own_application")
    locked.status = status
    locked.decided_at = timezone.now()
    locked.decided_by = actor
    locked.decision_reason = bounded(
        reason, limit=APPLICATION_REASON_MAX, noun="Reasons", multiline=True
    )
    locked.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
    return locked


def therapist_application_verify(
    *, actor: User, application: TherapistApplication, reason: str = ""
) -> TherapistApplication:
    """Verify the credentials; the applicant becomes a therapist."""
    with transaction.atomic():
        decided = _decide(
            actor=actor,
            application=application,
            status=TherapistApplication.Status.VERIFIED,
            reason=reason,
        )
        audit_record(actor=actor, action=AuditAction.THERAPIST_VERIFIED, target=decided)
        role_grant(actor=actor, user=decided.user, role=Role.THERAPIST)
    return decided


def therapist_application_reject(
    *, actor: User, application: TherapistApplication, reason: str
) -> TherapistApplication:
    """Decline the application, saying why (the applicant is shown the reason)."""
    if not reason.strip():
        raise ServiceError("Please give the applicant a reason.", code="reason_required")
    with transaction.atomic():
        decided = _decide(
            actor=actor,
            application=application,
            status=TherapistApplication.Status.REJECTED,
            reason=reason,
        )
        audit_record(actor=actor, action=AuditAction.THERAPIST_REJECTED, target=decided)
    return decided


# --- Guidelines ----------------------------------------------------------------------------------


def guidelines_publish(*, actor: User, version: GuidelinesVersion) -> GuidelinesVersion:
    """Put ``version`` in force: from now on everyone is asked to accept it."""
    _require_staff(actor)
    with transaction.atomic():
        locked = GuidelinesVersion.objects.select_for_update().get(pk=version.pk)
        if locked.published_at is not None:
            raise ServiceError("This version is already published.", code="already_published")
        current = guidelines_current()
        if current is not None and current.version > locked.version:
            raise ServiceError(
                f"Version {current.version} is already in force; publish a newer version.",
                code="older_version",
            )
        locked.published_at = timezone.now()
        locked.save(update_fields=["published_at"])
        audit_record(actor=actor, action=AuditAction.GUIDELINES_PUBLISHED, target=locked)
    return locked


def guidelines_accept(*, actor: User, version: GuidelinesVersion) -> GuidelinesAcceptance:
    """Record that ``actor`` accepted ``version`` (accepting twice changes nothing)."""
    current = guidelines_current()
    if current is None or current.pk != version.pk:
        raise ServiceError(
            "These guidelines have been updated since you opened the page. "
            "Please read the current version and accept it.",
            code="not_current",
        )
    with transaction.atomic():
        acceptance, created = GuidelinesAcceptance.objects.get_or_create(
            user=actor, version=version
        )
        if created:
            audit_record(
                actor=actor,
                action=AuditAction.GUIDELINES_ACCEPTED,
                target=version,
                details={"version": version.version},
            )
    if hasattr(actor, GUIDELINES_STANDING):  # what the login's query found is now out of date
        delattr(actor, GUIDELINES_STANDING)
    return acceptance
