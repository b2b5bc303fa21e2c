"""Factories for test data (through the ORM, against the real database)."""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Group

from accounts.models import GuidelinesVersion, TherapistApplication, User
from accounts.roles import Role

PASSWORD = "a-long-test-password-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    display_name = factory.Sequence(lambda n: f"Calm Person {n}")
    time_zone = "Europe/London"
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def verified_email(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[Role] | None, **kwargs: object) -> None:
        if create and extracted:
            for role in extracted:
                self.groups.add(Group.objects.get_or_create(name=role.value)[0])
            if Role.STAFF in extracted:
                self.is_staff = True
                self.save(update_fields=["is_staff"])
            self.__dict__.pop("roles", None)


def add_totp(user: User) -> str:
    """Give ``user`` a TOTP authenticator; return its secret, for making codes."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


class TherapistApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapistApplication

    user = factory.SubFactory(UserFactory)
    licence_number = factory.Sequence(lambda n: f"LIC-{n:06d}")
    issuing_body = "Health and Care Professions Council"
    jurisdiction = "United Kingdom"


class GuidelinesVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GuidelinesVersion

    version = factory.Sequence(lambda n: n + 100)
    body = "Be kind.\n\nKeep what is shared here, here."


# --- Groups (through the services, so rights and audit rows are real) ---------------------------


def accept_guidelines(user: User) -> None:
    from accounts.selectors import guidelines_current
    from accounts.services import guidelines_accept

    guidelines_accept(actor=user, version=guidelines_current())


def make_group(facilitator: User, **fields: object):
    """A group led by ``facilitator`` (who must be a therapist, or a peer supervisor for
    peer supervision), created through ``group_create``."""
    from groups.models import Topic
    from groups.services import group_create

    defaults: dict[str, object] = {
        "title": "Thursday evening anxiety group",
        "topic": Topic.objects.get(slug="anxiety"),
        "kind": "support",
        "description": "A calm space to talk about living with anxiety.",
        "capacity": 8,
        "time_zone": "Europe/London",
    }
    defaults.update(fields)
    return group_create(actor=facilitator, **defaults)


def _local_start(group, *, days_ahead: int, hour: int):
    """``hour``:00 on the day ``days_ahead`` days from now, in the group's time zone."""
    from datetime import datetime, timedelta

    from django.utils import timezone

    from groups.scheduling import to_local

    local_day = to_local(timezone.now(), time_zone=group.time_zone).date() + timedelta(
        days=days_ahead
    )
    return datetime.combine(local_day, datetime.min.time()).replace(hour=hour)


def make_session(group, *, days_ahead: int = 7, hour: int = 18, minutes: int = 60, **kwargs):
    """One session ``days_ahead`` days from now at ``hour``:00 in the group's time zone."""
    from groups.services import session_schedule

    return session_schedule(
        actor=group.facilitator,
        group=group,
        starts_local=_local_start(group, days_ahead=days_ahead, hour=hour),
        duration_minutes=minutes,
        **kwargs,
    )


def make_series(group, *, count: int, days_ahead: int = 2, hour: int = 18, minutes: int = 60):
    """A weekly series of ``count`` sessions, the first ``days_ahead`` days from now."""
    from groups.scheduling import Recurrence
    from groups.services import series_schedule

    return series_schedule(
        actor=group.facilitator,
        group=group,
        first_start_local=_local_start(group, days_ahead=days_ahead, hour=hour),
        duration_minutes=minutes,
        recurrence=Recurrence(count=count),
    )


def make_member(group, user: User | None = None, pseudonym: str = "", **fields: object):
    """Enroll ``user`` (a new person by default) in ``group`` through the service, under
    ``pseudonym`` when given."""
    from groups.services import enrollment_create

    user = user or UserFactory(**fields)
    accept_guidelines(user)
    return enrollment_create(actor=user, group=group, pseudonym=pseudonym)
