"""Reminders: one per person, session and lead time; sent once; never late; neutral; honoured
unsubscribes."""

from __future__ import annotations

import functools
import smtplib
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups.models import GroupSession, Reminder, ReminderPreference
from groups.reminders import reminders_create_due, reminders_send_due
from groups.services import enrollment_withdraw, session_cancel
from tests.concurrency import at_once
from tests.factories import make_group, make_member, make_session


def soon(session, minutes_from_now: float) -> GroupSession:
    start = timezone.now() + timedelta(minutes=minutes_from_now)
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=start, ends_at=start + timedelta(hours=1)
    )
    session.refresh_from_db()
    return session


@pytest.fixture
def setup(therapist):
    group = make_group(therapist, title="Anxiety circle")
    members = [
        make_member(group, time_zone=tz).user for tz in ("Europe/London", "America/New_York")
    ]
    session = soon(make_session(group, days_ahead=10), 10)  # inside the 15-minute window
    return group, members, session


@pytest.mark.django_db
def test_each_member_gets_each_due_reminder_once(setup):
    _group, members, _session = setup
    first = reminders_send_due()
    again = reminders_send_due()
    # Both lead times fell due, but ten minutes before the start a "coming up" email would only
    # repeat the 15-minute one: it is claimed and skipped, never sent, never retried.
    assert (first.created, first.sent, first.skipped) == (4, 2, 2)
    assert (again.created, again.sent, again.skipped) == (0, 0, 0)  # every row made already
    assert Reminder.objects.filter(sent_at__isnull=False).count() == 2
    assert Reminder.objects.filter(skip_reason="superseded").count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in members)
    assert {m.subject for m in mail.outbox} == {"[Hearth] Your group session starts in 15 minutes"}


@pytest.mark.django_db
def test_the_email_is_neutral_in_the_recipients_zone_with_one_click_unsubscribe(setup):
    group, members, session = setup
    reminders_send_due()
    quarter = [m for m in mail.outbox if "15 minutes" in m.subject and m.to == [members[1].email]]
    [email] = quarter
    assert email.subject == "[Hearth] Your group session starts in 15 minutes"
    local = session.starts_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert local.strftime("%H:%M") in email.body and "America/New_York" in email.body
    for secret in (group.title, group.topic.name, members[0].email, members[0].display_name):
        assert secret not in email.body and secret not in email.subject
    assert "token" not in email.body.lower().replace("unsubscribe", "")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.extra_headers["List-Unsubscribe"].startswith("<http")
    assert email.to == [members[1].email] and not email.cc and not email.bcc


@pytest.mark.django_db
def test_one_click_unsubscribe_is_honoured(client, setup):
    group, members, _session = setup
    reminders_send_due()
    email = mail.outbox[0]
    url = email.extra_headers["List-Unsubscribe"].strip("<>").split("127.0.0.1:8000", 1)[-1]
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 200  # what a mail client's one-click does
    person = next(u for u in members if u.email == email.to[0])
    preference = ReminderPreference.objects.get(user=person)
    assert (preference.day_before, preference.quarter_hour) == (False, False)
    mail.outbox.clear()
    later = soon(make_session(group, days_ahead=12), 150)  # only the 24-hour reminder is due
    reminders_send_due()
    assert all(m.to != [person.email] for m in mail.outbox)
    assert Reminder.objects.filter(user=person, session=later).count() == 0


@pytest.mark.django_db
def test_a_person_turns_off_one_lead_time(client, setup):
    _group, members, _session = setup
    client.force_login(members[0])
    client.post(reverse("groups:reminder_settings"), {"quarter_hour": "on"})
    reminders_send_due()
    leads = sorted(
        Reminder.objects.filter(user=members[0], sent_at__isnull=False).values_list(
            "lead_minutes", flat=True
        )
    )
    assert leads == [15]


@pytest.mark.django_db
def test_no_reminders_for_cancelled_sessions_withdrawn_or_suspended_people(therapist, setup):
    group, members, _session = setup
    reminders_send_due(now=timezone.now() - timedelta(hours=1))  # nothing due yet for 15-min
    Reminder.objects.all().delete()
    from groups.models import Enrollment

    enrollment_withdraw(actor=members[0], enrollment=Enrollment.objects.get(user=members[0]))
    members[1].suspended_until = timezone.now() + timedelta(days=1)
    members[1].save(update_fields=["suspended_until"])
    result = reminders_send_due()
    assert result.sent == 0
    # The withdrawn person has nothing due at all; the suspended person's 15-minute reminder is
    # skipped for the suspension (the day-before one gave way to it, as for everyone).
    assert dict(Reminder.objects.values_list("lead_minutes", "skip_reason")) == {
        15: "suspended",
        24 * 60: "superseded",
    }
    assert not Reminder.objects.filter(user=members[0]).exists()
    other = soon(make_session(group, days_ahead=14), 150)  # clear of the first session
    session_cancel(actor=therapist, session=other, reason="Unwell")
    assert reminders_send_due().sent == 0
    assert not Reminder.objects.filter(session=other, sent_at__isnull=False).exists()


@pytest.mark.django_db
def test_a_reminder_due_while_workers_were_down_is_skipped_once_its_session_started(setup):
    _group, members, session = setup
    reminders_send_due(now=timezone.now() - timedelta(days=2))  # creates nothing: not due then
    Reminder.objects.create(
        user=members[0],
        session=session,
        lead_minutes=15,
        due_at=session.starts_at - timedelta(minutes=15),
    )
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=timezone.now() - timedelta(minutes=1),
        ends_at=timezone.now() + timedelta(minutes=59),
    )
    result = reminders_send_due()
    assert result.sent == 0
    assert Reminder.objects.get(user=members[0], lead_minutes=15).skip_reason == "started"
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_send_each_reminder_once(request):
    therapist = request.getfixturevalue("therapist")
    group = make_group(therapist, capacity=20)
    for _ in range(15):
        make_member(group)
    soon(make_session(group, days_ahead=10), 10)
    sent = [result.sent for result in at_once(reminders_send_due, reminders_send_due)]
    assert sum(sent) == 15  # the 15-minute reminders; the day-before ones gave way
    assert len(mail.outbox) == 15
    assert len({m.to[0] for m in mail.outbox}) == 15


@pytest.mark.django_db
def test_the_day_before_reminder_goes_out_a_day_ahead_in_plain_words(therapist):
    group = make_group(therapist)
    member = make_member(group, time_zone="Europe/London").user
    session = soon(make_session(group, days_ahead=10), 23 * 60)
    result = reminders_send_due()
    assert result.sent == 1
    [email] = mail.outbox
    assert email.subject == "[Hearth] Reminder: your group session is coming up"
    assert "your next group session is on" in email.body
    assert email.to == [member.email]
    assert Reminder.objects.get().lead_minutes == 24 * 60
    assert session.pk == Reminder.objects.get().session_id


@pytest.mark.django_db
def test_the_first_reminder_a_person_is_sent_offers_the_practice_room_and_no_later_one(
    therapist,
):
    practice = settings.SITE_URL + reverse("chat:practice")
    group = make_group(therapist, title="Anxiety circle")
    newcomer = make_member(group).user
    soon(make_session(group, days_ahead=10), 23 * 60)
    assert reminders_send_due().sent == 1
    [first] = mail.outbox
    assert "Try the room before your first session" in first.body and practice in first.body
    assert first.subject == "[Hearth] Reminder: your group session is coming up"
    mail.outbox.clear()
    # Someone joins later: their first reminder offers it, the newcomer's second does not.
    later = make_member(group).user
    soon(make_session(group, days_ahead=12), 10)
    # The newcomer's 15-minute reminder, and the one joining late's two (tomorrow's as well).
    assert reminders_send_due().sent == 3
    assert sorted(practice in m.body for m in mail.outbox if m.to == [later.email]) == [False, True]
    assert [practice in m.body for m in mail.outbox if m.to == [newcomer.email]] == [False]


@pytest.mark.django_db
def test_two_first_reminders_in_one_batch_offer_the_practice_room_once(therapist):
    group = make_group(therapist)
    person = make_member(group).user
    soon(make_session(group, days_ahead=12), 23 * 60)
    soon(make_session(group, days_ahead=10), 10)  # sooner: its 15-minute reminder
    assert reminders_send_due().sent == 2
    practice = settings.SITE_URL + reverse("chat:practice")
    offered = [m for m in mail.outbox if practice in m.body]
    assert [m.subject for m in offered] == ["[Hearth] Your group session starts in 15 minutes"]
    assert all(m.to == [person.email] for m in mail.outbox)


# --- Batches -------------------------------------------------------------------------------------


def due_now(therapist, people: int):
    """A group of ``people`` whose session starts in ten minutes: each is owed one email."""
    group = make_group(therapist, capacity=max(2, people))
    members = [make_member(group).user for _ in range(people)]
    soon(make_session(group, days_ahead=10), 10)
    return members


def sent_once() -> bool:
    """Every email went to a different reminder, and every reminder sent was emailed."""
    ids = [m.extra_headers["Message-ID"] for m in mail.outbox]
    sent = Reminder.objects.filter(sent_at__isnull=False).values_list("pk", flat=True)
    return len(ids) == len(set(ids)) and set(ids) == {f"<reminder-{pk}@hearth>" for pk in sent}


@pytest.mark.django_db
def test_a_batch_runs_as_many_queries_for_eight_reminders_as_for_two(therapist):
    due_now(therapist, 2)
    with CaptureQueriesContext(connection) as two:
        assert reminders_send_due(batch=20).sent == 2
    mail.outbox.clear()
    Reminder.objects.all().delete()
    # Out of the way: one facilitator cannot lead two sessions at once.
    GroupSession.objects.update(cancelled_at=timezone.now(), cancel_reason="Moved")
    due_now(therapist, 8)
    with CaptureQueriesContext(connection) as eight:  # 16 reminders: one batch, like the 4
        assert reminders_send_due(batch=20).sent == 8
    assert len(eight.captured_queries) == len(two.captured_queries)
    assert len(mail.outbox) == 8 and sent_once()


@pytest.mark.django_db
def test_a_person_owed_two_reminders_in_one_batch_before_having_any_choices_gets_both(
    therapist,
):
    group = make_group(therapist)
    person = make_member(group).user
    soon(make_session(group, days_ahead=10), 10)  # the 15-minute reminder
    soon(make_session(group, days_ahead=12), 23 * 60)  # and tomorrow's day-before one
    assert not ReminderPreference.objects.filter(user=person).exists()
    assert reminders_send_due().sent == 2
    token = ReminderPreference.objects.get(user=person).unsubscribe_token
    assert sorted(m.subject for m in mail.outbox) == [
        "[Hearth] Reminder: your group session is coming up",
        "[Hearth] Your group session starts in 15 minutes",
    ]
    assert all(token in m.extra_headers["List-Unsubscribe"] for m in mail.outbox)
    assert all(m.to == [person.email] for m in mail.outbox) and sent_once()


class FailingBackend(EmailBackend):
    """The in-memory backend, except that the mail server drops the connection at message
    ``fail_at`` (counted over every send; ``None``: never)."""

    fail_at: int | None = None
    count = 0

    def send_messages(self, messages):
        FailingBackend.count += 1
        if FailingBackend.count == FailingBackend.fail_at:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.mark.django_db
def test_a_mail_server_failing_mid_batch_keeps_what_it_took_and_the_rest_goes_next_time(
    therapist, settings, monkeypatch
):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    monkeypatch.setattr(FailingBackend, "fail_at", 3)
    monkeypatch.setattr(FailingBackend, "count", 0)
    members = due_now(therapist, 5)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        reminders_send_due()
    # The two it accepted are marked sent; the other three are still due, not skipped.
    quarter = Reminder.objects.filter(lead_minutes=15)
    assert quarter.filter(sent_at__isnull=False).count() == 2
    assert quarter.filter(sent_at__isnull=True, skipped_at__isnull=True).count() == 3
    assert len(mail.outbox) == 2 and sent_once()

    monkeypatch.setattr(FailingBackend, "fail_at", None)
    assert reminders_send_due().sent == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in members)
    assert not quarter.filter(sent_at__isnull=True).exists() and sent_once()


class RefusingBackend(EmailBackend):
    """The in-memory backend, except that the mail server refuses one address with ``code``."""

    refused: str = ""
    code = 550

    def send_messages(self, messages):
        for message in messages:
            if RefusingBackend.refused in message.to:
                raise smtplib.SMTPRecipientsRefused(
                    {RefusingBackend.refused: (RefusingBackend.code, b"No such mailbox")}
                )
        return super().send_messages(messages)


@pytest.mark.django_db
def test_an_address_refused_for_good_is_skipped_and_the_batch_goes_on(
    therapist, settings, monkeypatch
):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    members = due_now(therapist, 4)
    monkeypatch.setattr(RefusingBackend, "refused", members[1].email)
    result = reminders_send_due()
    assert result.sent == 3
    delivered = [u.email for u in members if u != members[1]]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(delivered)
    refused = Reminder.objects.get(lead_minutes=15, user=members[1])
    assert (refused.sent_at, refused.skip_reason) == (None, "undeliverable")
    assert reminders_send_due().sent == 0 and sent_once()  # not tried again every minute


@pytest.mark.django_db
def test_an_address_refused_for_now_stays_due_and_what_went_before_is_kept(
    therapist, settings, monkeypatch
):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    monkeypatch.setattr(RefusingBackend, "code", 451)  # "try again later"
    members = due_now(therapist, 3)
    reminders_create_due(now=timezone.now())
    quarter = Reminder.objects.filter(lead_minutes=15)
    refused = quarter.order_by("pk")[1]
    monkeypatch.setattr(RefusingBackend, "refused", refused.user.email)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        reminders_send_due()
    refused.refresh_from_db()
    assert (refused.sent_at, refused.skipped_at) == (None, None)  # still due
    assert len(mail.outbox) == quarter.filter(sent_at__isnull=False).count() and sent_once()

    monkeypatch.setattr(RefusingBackend, "refused", "")
    reminders_send_due()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in members)
    assert sent_once()


@pytest.mark.django_db
def test_a_reminder_a_dead_sweep_emailed_is_marked_sent_and_not_emailed_again(therapist):
    """The ledger: a sweep that died after the mail server accepted a reminder, before its
    commit, left the reminder due and its id in the cache."""
    from groups import reminders

    members = due_now(therapist, 3)
    reminders_create_due(now=timezone.now())
    emailed = Reminder.objects.get(lead_minutes=15, user=members[0])
    with reminders._ledger_writer() as remember:
        remember(emailed.pk)

    result = reminders_send_due()
    assert (result.sent, result.recovered) == (2, 1)
    emailed.refresh_from_db()
    assert emailed.sent_at is not None
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in members[1:])
    assert reminders._ledger_accepted([emailed.pk]) == set()  # forgotten once committed


@pytest.mark.django_db
def test_a_sweep_out_of_time_leaves_the_rest_to_the_next(therapist):
    due_now(therapist, 5)  # five to send, five day-before ones to skip
    first = reminders_send_due(seconds=0, batch=3)
    assert first.sent + first.skipped == 3  # one batch, then out of time
    assert Reminder.objects.filter(sent_at__isnull=True, skipped_at__isnull=True).count() == 7
    rest = reminders_send_due(batch=3)
    assert (first.sent + rest.sent, first.skipped + rest.skipped) == (5, 5)
    assert len(mail.outbox) == 5 and sent_once()


@pytest.mark.django_db
def test_a_limit_caps_what_one_sweep_claims(therapist):
    due_now(therapist, 4)
    first = reminders_send_due(limit=5, batch=2)
    assert first.sent + first.skipped == 5
    assert Reminder.objects.filter(sent_at__isnull=True, skipped_at__isnull=True).count() == 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_taking_small_batches_at_once_send_each_reminder_once(request):
    members = due_now(request.getfixturevalue("therapist"), 15)
    sweep = functools.partial(reminders_send_due, batch=2)
    sent = [result.sent for result in at_once(sweep, sweep)]
    assert sum(sent) == 15
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in members)
    assert sent_once()
