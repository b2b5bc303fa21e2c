"""The calendar: a private feed per person, one-session files, and the feed's settings."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar

from accounts.roles import Role
from groups.calendar import build_calendar
from groups.models import CalendarFeed, Enrollment
from groups.scheduling import Recurrence
from groups.services import (
    calendar_feed_get_or_create,
    calendar_feed_reset,
    calendar_feed_set_group_names,
    co_facilitator_add,
    enrollment_withdraw,
    invitation_send,
    series_schedule,
    session_cancel,
)
from moderation.models import AuditAction, AuditEvent
from tests.dates import THURSDAY, after, before, spring_forward
from tests.factories import UserFactory, add_totp, make_group, make_member, make_session

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
CHECKED_BOX = 'aria-describedby="include-group-names-help" checked>'


def _feed_url(user) -> str:
    return reverse("groups:calendar_feed", args=[calendar_feed_get_or_create(actor=user).token])


def _served(client, url: str) -> Calendar:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def _events(cal: Calendar) -> dict[str, object]:
    return {str(event["UID"]): event for event in cal.walk("VEVENT")}


def _uid(session) -> str:
    return f"session-{session.pk}@hearth"


def test_the_feed_is_a_valid_calendar_of_the_members_sessions(client, settings, therapist, member):
    settings.SITE_URL = "https://hearth.example"
    group = make_group(therapist, time_zone="America/New_York")
    first = make_session(group, days_ahead=3)
    second = make_session(group, days_ahead=10)
    make_member(group, member)
    other_group = make_group(therapist, title="Someone else's group")
    not_mine = make_session(other_group, days_ahead=4, hour=8)

    response = client.get(_feed_url(member))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    assert response["X-Robots-Tag"] == "noindex"
    cal = Calendar.from_ical(response.content)
    assert str(cal["PRODID"]) == "-//Hearth//Group sessions//EN"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    assert str(cal["X-WR-CALNAME"]) == "Hearth"
    events = _events(cal)
    assert set(events) == {_uid(first), _uid(second)}
    assert _uid(not_mine) not in events
    event = events[_uid(first)]
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert event["DTEND"].params["TZID"] == "America/New_York"
    assert event["DTSTART"].dt == first.starts_at
    assert event["DTEND"].dt == first.ends_at
    assert event["DTSTART"].dt.astimezone(ZoneInfo("America/New_York")).hour == 18
    assert event["DTSTAMP"].dt.utcoffset().total_seconds() == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["URL"]) == "https://hearth.example/schedule/"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["America/New_York"]
    assert cal.get_missing_tzids() == set()
    assert b"ATTENDEE" not in response.content
    assert member.email.encode() not in response.content
    assert therapist.email.encode() not in response.content


def test_the_facilitator_sees_the_sessions_they_lead_in_their_own_feed(client, therapist):
    group = make_group(therapist)
    session = make_session(group, days_ahead=2)

    events = _events(_served(client, _feed_url(therapist)))

    assert set(events) == {_uid(session)}


def test_the_feed_takes_the_same_number_of_queries_however_many_sessions(client, therapist, member):
    group = make_group(therapist)
    make_member(group, member)
    make_session(group, days_ahead=2)
    url = _feed_url(member)
    with CaptureQueriesContext(connection) as one_session:
        client.get(url)
    for days in (3, 4, 5, 6):
        make_session(group, days_ahead=days)
    with CaptureQueriesContext(connection) as five_sessions:
        response = client.get(url)

    assert len(_events(Calendar.from_ical(response.content))) == 5
    assert len(five_sessions) == len(one_session) == 2


def test_a_weekly_london_series_keeps_its_wall_time_across_the_clocks_going_forward(
    client, therapist, member
):
    group = make_group(therapist, time_zone="Europe/London")
    # Two Thursdays in GMT, then one after the clocks go forward (on a Sunday).
    thursdays = _thursdays_around(spring_forward("Europe/London"))
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime.combine(thursdays[0], time(18)),
        duration_minutes=60,
        recurrence=Recurrence(count=3),
    )
    make_member(group, member)

    events = _events(_served(client, _feed_url(member)))
    starts = [events[_uid(session)]["DTSTART"] for session in sessions]

    assert [start.params["TZID"] for start in starts] == ["Europe/London"] * 3
    london = [start.dt.astimezone(ZoneInfo("Europe/London")) for start in starts]
    assert [(t.date(), t.hour, t.minute) for t in london] == [(day, 18, 0) for day in thursdays]
    utc = [start.dt.astimezone(UTC) for start in starts]
    assert [t.hour for t in utc] == [18, 18, 17]
    # Tokyo has no clock changes, so a member there sees the session move an hour earlier.
    tokyo = [start.dt.astimezone(TOKYO) for start in starts]
    assert [(t.date(), t.hour) for t in tokyo] == [
        (thursdays[0] + timedelta(days=1), 3),
        (thursdays[1] + timedelta(days=1), 3),
        (thursdays[2] + timedelta(days=1), 2),
    ]


def _thursdays_around(change: date) -> list[date]:
    """The two Thursdays before a clock change (on a Sunday) and the one after it."""
    last_before = before(change, THURSDAY)
    return [last_before - timedelta(weeks=1), last_before, after(change, THURSDAY)]


def test_a_weekly_new_york_series_keeps_its_wall_time_across_the_clocks_going_forward(
    client, therapist, member
):
    group = make_group(therapist, time_zone="America/New_York")
    # Two Thursdays in EST (UTC-5), then one after the clocks go forward.
    thursdays = _thursdays_around(spring_forward("America/New_York"))
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime.combine(thursdays[0], time(18)),
        duration_minutes=60,
        recurrence=Recurrence(count=3),
    )
    make_member(group, member)

    events = _events(_served(client, _feed_url(member)))
    starts = [events[_uid(session)]["DTSTART"] for session in sessions]
    ends = [events[_uid(session)]["DTEND"] for session in sessions]

    assert [start.params["TZID"] for start in starts] == ["America/New_York"] * 3
    new_york = [start.dt.astimezone(ZoneInfo("America/New_York")) for start in starts]
    assert [(t.date(), t.hour) for t in new_york] == [(day, 18) for day in thursdays]
    assert [end.dt.astimezone(ZoneInfo("America/New_York")).hour for end in ends] == [19] * 3
    assert [start.dt.astimezone(UTC).hour for start in starts] == [23, 23, 22]
    tokyo = [start.dt.astimezone(TOKYO) for start in starts]
    assert [(t.date(), t.hour) for t in tokyo] == [
        (thursdays[0] + timedelta(days=1), 8),
        (thursdays[1] + timedelta(days=1), 8),
        (thursdays[2] + timedelta(days=1), 7),
    ]


def test_the_vtimezone_describes_the_clock_change(client, therapist, member):
    group = make_group(therapist, time_zone="Europe/London")
    thursdays = _thursdays_around(spring_forward("Europe/London"))
    series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime.combine(thursdays[0], time(18)),
        duration_minutes=60,
        recurrence=Recurrence(count=3),
    )
    make_member(group, member)

    [vtimezone] = _served(client, _feed_url(member)).walk("VTIMEZONE")
    # The zone as a calendar app rebuilds it from the file alone, without its own database.
    served_zone = vtimezone.to_tz(lookup_tzid=False)

    assert str(vtimezone["TZID"]) == "Europe/London"
    before_change = datetime.combine(thursdays[1], time(18), tzinfo=served_zone)
    after_change = datetime.combine(thursdays[2], time(18), tzinfo=served_zone)
    assert before_change.utcoffset() == timedelta(0)
    assert after_change.utcoffset() == timedelta(hours=1)


def test_a_cancelled_session_is_kept_with_status_cancelled_and_a_higher_sequence(
    client, therapist, member
):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    kept = make_session(group, days_ahead=10)
    make_member(group, member)
    url = _feed_url(member)
    before = _events(_served(client, url))[_uid(session)]

    session_cancel(actor=therapist, session=session, reason="Facilitator unwell")
    events = _events(_served(client, url))

    after = events[_uid(session)]
    assert str(before["STATUS"]) == "CONFIRMED"
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert "This session was cancelled." in str(after["DESCRIPTION"])
    assert "unwell" not in str(after["DESCRIPTION"])
    assert str(events[_uid(kept)]["STATUS"]) == "CONFIRMED"


def test_event_titles_are_neutral_and_never_name_the_topic(client, settings, therapist, member):
    settings.SITE_URL = "https://hearth.example"
    group = make_group(therapist, title="Thursday evening circle")
    make_session(group, days_ahead=3)
    make_member(group, member)

    response = client.get(_feed_url(member))
    [event] = Calendar.from_ical(response.content).walk("VEVENT")

    assert str(event["SUMMARY"]) == "Hearth group session"
    assert str(event["DESCRIPTION"]) == (
        "Join from My schedule on Hearth: https://hearth.example/schedule/"
    )
    body = response.content.decode().lower()
    assert group.topic.name.lower() not in body
    assert group.topic.slug not in body
    assert "thursday evening circle" not in body


def test_with_group_names_on_titles_name_the_group_but_not_the_topic(client, therapist, member):
    group = make_group(therapist, title="Thursday evening circle")
    make_session(group, days_ahead=3)
    make_member(group, member)
    calendar_feed_set_group_names(actor=member, include=True)

    response = client.get(_feed_url(member))
    [event] = Calendar.from_ical(response.content).walk("VEVENT")

    assert str(event["SUMMARY"]) == "Hearth: Thursday evening circle"
    body = response.content.decode().lower()
    assert group.topic.name.lower() not in body
    assert group.topic.slug not in body


def test_build_calendar_links_to_the_schedule_on_the_given_site(therapist):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)

    cal = Calendar.from_ical(
        build_calendar(
            sessions=[session],
            include_group_names=False,
            site_url="https://hearth.example",
            name="My Hearth",
        )
    )
    [event] = cal.walk("VEVENT")

    assert str(cal["X-WR-CALNAME"]) == "My Hearth"
    assert str(event["URL"]) == "https://hearth.example/schedule/"
    assert str(event["DESCRIPTION"]) == (
        "Join from My schedule on Hearth: https://hearth.example/schedule/"
    )


def test_an_unknown_token_answers_404(client):
    response = client.get(reverse("groups:calendar_feed", args=["not-a-real-token"]))

    assert response.status_code == 404


def test_after_a_reset_the_old_address_answers_404_and_the_new_one_works(client, therapist, member):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    make_member(group, member)
    old_url = _feed_url(member)
    assert client.get(old_url).status_code == 200

    new_feed = calendar_feed_reset(actor=member)

    assert client.get(old_url).status_code == 404
    new_url = reverse("groups:calendar_feed", args=[new_feed.token])
    assert new_url != old_url
    assert set(_events(_served(client, new_url))) == {_uid(session)}
    [event] = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_CALENDAR_FEED_RESET)
    assert (event.actor, event.target_id) == (member, str(new_feed.pk))


def test_the_feed_of_a_deactivated_account_answers_404(client, member):
    url = _feed_url(member)
    member.is_active = False
    member.save(update_fields=["is_active"])

    assert client.get(url).status_code == 404


def test_the_feed_refuses_anything_but_get_and_head(client, member):
    url = _feed_url(member)

    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405


def test_a_member_downloads_one_session_as_a_file(client, therapist, member):
    group = make_group(therapist, is_listed=False, title="Thursday evening circle")
    session = make_session(group, days_ahead=3)
    make_session(group, days_ahead=10)
    make_member(group, member)
    client.force_login(member)

    response = client.get(reverse("groups:session_ics", args=[session.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert (
        response["Content-Disposition"] == f'attachment; filename="hearth-session-{session.pk}.ics"'
    )
    cal = Calendar.from_ical(response.content)
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == _uid(session)
    assert str(event["SUMMARY"]) == "Hearth group session"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]


def test_a_session_file_names_the_group_when_the_member_chose_that(client, therapist, member):
    group = make_group(therapist, title="Thursday evening circle")
    session = make_session(group, days_ahead=3)
    make_member(group, member)
    calendar_feed_set_group_names(actor=member, include=True)
    client.force_login(member)

    response = client.get(reverse("groups:session_ics", args=[session.pk]))

    [event] = Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Hearth: Thursday evening circle"


def test_a_session_file_is_404_to_an_outsider(client, therapist, outsider):
    group = make_group(therapist, is_listed=False)
    session = make_session(group, days_ahead=3)
    client.force_login(outsider)

    response = client.get(reverse("groups:session_ics", args=[session.pk]))

    assert response.status_code == 404


def _page_of(response) -> str:
    """The page without what differs by the request alone: its address and the CSRF token
    (masked afresh for every response)."""
    page = response.content.decode().replace(response.wsgi_request.path, "PATH")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)


def _session_file(client, person, session_id: int):
    client.force_login(person)
    return client.get(reverse("groups:session_ics", args=[session_id]))


def test_a_session_file_of_a_listed_group_is_the_same_404_as_no_session_to_an_outsider(
    client, therapist, outsider
):
    session = make_session(make_group(therapist, is_listed=True), days_ahead=3)

    refused = _session_file(client, outsider, session.pk)
    missing = _session_file(client, outsider, session.pk + 1000)

    assert refused.status_code == missing.status_code == 404
    assert _page_of(refused) == _page_of(missing)
    assert b"BEGIN:VCALENDAR" not in refused.content


def test_a_session_file_is_404_to_someone_on_the_waiting_list(client, therapist):
    group = make_group(therapist, capacity=2)
    session = make_session(group, days_ahead=3)
    make_member(group), make_member(group)
    waiting = make_member(group)
    assert waiting.state == Enrollment.State.WAITLISTED

    assert _session_file(client, waiting.user, session.pk).status_code == 404


def test_a_session_file_is_404_to_someone_who_left_the_group(client, therapist, member):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    enrollment_withdraw(actor=member, enrollment=make_member(group, member))

    assert _session_file(client, member, session.pk).status_code == 404


def test_the_facilitators_and_an_invitee_download_the_session_file_and_a_therapist_not(
    client, therapist, member
):
    colleague, stranger = UserFactory(roles=[Role.THERAPIST]), UserFactory(roles=[Role.THERAPIST])
    add_totp(colleague), add_totp(stranger)
    group = make_group(therapist, is_closed=True, is_listed=True)
    co_facilitator_add(actor=therapist, group=group, user=colleague)
    invitation_send(actor=therapist, group=group, email=member.email)
    session = make_session(group, days_ahead=3)

    for person in (therapist, colleague, member):
        response = _session_file(client, person, session.pk)
        assert response.status_code == 200, person
        assert b"BEGIN:VCALENDAR" in response.content
    assert _session_file(client, stranger, session.pk).status_code == 404


def test_the_group_page_offers_session_files_only_to_those_who_take_part(
    client, therapist, member, outsider
):
    group = make_group(therapist, is_listed=True)
    session = make_session(group, days_ahead=3)
    make_member(group, member)
    link = reverse("groups:session_ics", args=[session.pk])

    for person, offered in ((member, True), (therapist, True), (outsider, False)):
        client.force_login(person)
        page = client.get(reverse("groups:detail", args=[group.slug])).content.decode()
        assert (link in page) is offered, person


def test_the_feed_holds_only_groups_the_person_takes_part_in(client, therapist, member):
    """It already did: this pins it (the waiting list and invitations are not taking part)."""
    mine = make_group(therapist, title="Mine")
    full = make_group(therapist, title="Full", capacity=2)
    invited_to = make_group(therapist, title="Invited", is_closed=True, is_listed=False)
    listed = make_group(therapist, title="Listed")
    sessions = {
        g.title: make_session(g, days_ahead=3 + n)
        for n, g in enumerate((mine, full, invited_to, listed))
    }
    make_member(mine, member)
    make_member(full), make_member(full)
    assert make_member(full, member).state == Enrollment.State.WAITLISTED
    invitation_send(actor=therapist, group=invited_to, email=member.email)

    events = _events(_served(client, _feed_url(member)))

    assert set(events) == {_uid(sessions["Mine"])}


def test_a_session_file_sends_an_anonymous_visitor_to_log_in(client, therapist):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    url = reverse("groups:session_ics", args=[session.pk])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_settings_page_shows_the_private_address(client, settings, member):
    settings.SITE_URL = "https://hearth.example"
    client.force_login(member)

    response = client.get(reverse("groups:calendar_settings"))

    assert response.status_code == 200
    feed = CalendarFeed.objects.get(user=member)
    page = response.content.decode()
    feed_url = "https://hearth.example" + reverse("groups:calendar_feed", args=[feed.token])
    assert f'value="{feed_url}" readonly' in page
    assert '<label for="calendar-address">' in page
    assert "Show group names in my calendar" in page
    assert "Make a new address (the old one stops working)" in page
    assert "style=" not in page
    assert "<script>" not in page


def test_posting_names_turns_group_names_on_and_off(client, member):
    client.force_login(member)
    url = reverse("groups:calendar_settings")

    response = client.post(url, {"action": "names", "include_group_names": "1"})

    assert response.status_code == 302
    assert response["Location"] == url
    assert CalendarFeed.objects.get(user=member).include_group_names is True
    assert CHECKED_BOX in client.get(url).content.decode()

    client.post(url, {"action": "names"})

    assert CalendarFeed.objects.get(user=member).include_group_names is False
    assert CHECKED_BOX not in client.get(url).content.decode()


def test_posting_reset_gives_a_new_address(client, member):
    old_token = calendar_feed_get_or_create(actor=member).token
    client.force_login(member)
    url = reverse("groups:calendar_settings")

    response = client.post(url, {"action": "reset"}, follow=True)

    new_token = CalendarFeed.objects.get(user=member).token
    assert new_token != old_token
    page = response.content.decode()
    assert "new address" in page
    assert new_token in page and old_token not in page


def test_the_settings_page_sends_an_anonymous_visitor_to_log_in(client):
    url = reverse("groups:calendar_settings")

    for response in (client.get(url), client.post(url, {"action": "reset"})):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    assert not CalendarFeed.objects.exists()
