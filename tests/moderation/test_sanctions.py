"""Sanctions add up: the effect other apps honour is always the strongest one still in force
(the latest end wins; permanent beats timed), and the person hears when it really ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from groups.models import Enrollment
from moderation import services
from moderation.models import Sanction
from moderation.services import FOREVER
from tests.moderation.conftest import file_report

pytestmark = pytest.mark.django_db


def _mute(scene, therapist, *, days: int) -> Sanction:
    until = timezone.now() + timedelta(days=days)
    report = services.report_mute(
        actor=therapist, report=file_report(scene), reason="Cooling off", until=until
    )
    return Sanction.objects.get(report=report)


def _muted_until(scene):
    return Enrollment.objects.get(group=scene["group"], user=scene["author"]).muted_until


def test_an_expiring_short_suspension_leaves_a_permanent_one_in_force(member, staff_user):
    short = services.account_suspend(
        actor=staff_user, user=member, reason="Cool off", until=timezone.now() + timedelta(hours=1)
    )
    services.account_suspend(actor=staff_user, user=member, reason="Threats", until=None)
    assert services.sanctions_expire(now=short.ends_at + timedelta(seconds=1)) == 1
    short.refresh_from_db()
    assert short.lifted_at is not None
    member.refresh_from_db()
    assert member.suspended_until == FOREVER
    assert member.is_suspended


def test_a_shorter_suspension_given_later_does_not_shorten_a_longer_one(member, staff_user):
    week = timezone.now() + timedelta(days=7)
    services.account_suspend(actor=staff_user, user=member, reason="Abuse", until=week)
    day = services.account_suspend(
        actor=staff_user, user=member, reason="Again", until=timezone.now() + timedelta(days=1)
    )
    member.refresh_from_db()
    assert member.suspended_until == week
    services.sanction_lift(actor=staff_user, sanction=day)
    member.refresh_from_db()
    assert member.suspended_until == week


def test_a_short_mute_after_a_long_one_leaves_the_long_one(scene, therapist):
    month = _mute(scene, therapist, days=30)
    day = _mute(scene, therapist, days=1)
    assert _muted_until(scene) == month.ends_at
    services.sanctions_expire(now=day.ends_at + timedelta(seconds=1))
    day.refresh_from_db()
    assert day.lifted_at is not None
    assert _muted_until(scene) == month.ends_at
    services.sanctions_expire(now=month.ends_at + timedelta(seconds=1))
    assert _muted_until(scene) is None


def test_the_person_is_told_in_plain_words_when_a_mute_ends(
    scene, therapist, django_capture_on_commit_callbacks
):
    mute = _mute(scene, therapist, days=2)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.sanctions_expire(now=mute.ends_at + timedelta(seconds=1))
    [notice] = [m for m in mail.outbox if m.to == [scene["author"].email]]
    assert "You are no longer muted in the group" in notice.body
    assert scene["group"].title not in notice.body


def test_the_person_is_told_in_plain_words_when_a_suspension_ends(
    member, staff_user, django_capture_on_commit_callbacks
):
    sanction = services.account_suspend(actor=staff_user, user=member, reason="Abuse", until=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.sanction_lift(actor=staff_user, sanction=sanction)
    [notice] = mail.outbox
    assert notice.to == [member.email]
    assert "Your Hearth account is no longer suspended. You can log in again." in notice.body


def test_nobody_is_told_a_sanction_ended_while_a_stronger_one_holds(
    member, staff_user, django_capture_on_commit_callbacks
):
    services.account_suspend(actor=staff_user, user=member, reason="Threats", until=None)
    short = services.account_suspend(
        actor=staff_user, user=member, reason="Cool off", until=timezone.now() + timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.sanction_lift(actor=staff_user, sanction=short)
    assert mail.outbox == []
