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
