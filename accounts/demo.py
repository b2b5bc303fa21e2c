"""Demo people for `manage.py seed_demo`: one of each persona, safe to create again."""

from __future__ import annotations

from typing import TextIO

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP

from accounts.models import TherapistApplication, User
from accounts.roles import Role
from accounts.selectors import guidelines_current
from accounts.services import (
    guidelines_accept,
    role_grant,
    therapist_application_submit,
    therapist_application_verify,
)

DEMO_PASSWORD = "calm-harbor-demo"
# One shared authenticator key for the demo's privileged people; `manage.py demo_totp` prints
# the current code, or add the key to any authenticator app.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPHEARTHDEMOCALMXX"

DEMO_PEOPLE = {
    "admin": ("admin@hearth.example", "Hearth Admin"),
    "staff": ("staff@hearth.example", "Sam from Hearth"),
    "therapist": ("therapist@hearth.example", "Harbor Light"),
    "supervisor": ("supervisor@hearth.example", "Steady Oak"),
    "client": ("client@hearth.example", "Quiet Otter"),
    "client2": ("client2@hearth.example", "Gentle Fern"),
    "applicant": ("applicant@hearth.example", "Hopeful Wren"),
}


def _person(key: str, *, superuser: bool = False) -> User:
    email, name = DEMO_PEOPLE[key]
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        make = User.objects.create_superuser if superuser else User.objects.create_user
        user = make(email, DEMO_PASSWORD, display_name=name, time_zone="Europe/London")
    EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def _with_totp(user: User) -> None:
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, DEMO_TOTP_SECRET)


def seed(*, stdout: TextIO) -> dict[str, User]:
    admin = _person("admin", superuser=True)
    people = {key: _person(key) for key in DEMO_PEOPLE if key != "admin"}
    people["admin"] = admin

    role_grant(actor=admin, user=people["staff"], role=Role.STAFF)
    for key in ("therapist", "supervisor"):
        person = people[key]
        if not person.has_role(Role.THERAPIST):
            application = therapist_application_submit(
                actor=person,
                licence_number=f"DEMO-{person.pk:05d}",
                issuing_body="Demo Council of Counsellors",
                jurisdiction="England",
            )
            therapist_application_verify(actor=people["staff"], application=application)
    role_grant(actor=people["staff"], user=people["supervisor"], role=Role.PEER_SUPERVISOR)
    if not TherapistApplication.objects.filter(user=people["applicant"]).exists():
        therapist_application_submit(
            actor=people["applicant"],
            licence_number="LPC-123456",
            issuing_body="Texas Behavioral Health Executive Council",
            jurisdiction="Texas, United States",
        )
    for key in ("admin", "staff", "therapist", "supervisor"):
        _with_totp(people[key])

    current = guidelines_current()
    if current is not None:
        for person in people.values():
            guidelines_accept(actor=person, version=current)

    stdout.write(f"Demo people (password for all: {DEMO_PASSWORD})\n")
    for key, (email, name) in DEMO_PEOPLE.items():
        stdout.write(f"  {key:<11} {email:<28} shown as “{name}”\n")
    stdout.write(
        "Admin, staff, therapist and supervisor use two-step login: run "
        f"`make totp` for the current code (key {DEMO_TOTP_SECRET}).\n"
    )
    return people
