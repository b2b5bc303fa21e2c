"""/metrics: Prometheus' text format, for allowed networks or the token only."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta
from ipaddress import ip_network

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts.models import JobRun
from chat.selectors import room_access
from chat.services import message_post, room_join
from config.metrics import Counter, Gauge, Histogram, Registry
from groups.models import GroupSession, Reminder
from tests.chat.conftest import open_session as open_room
from tests.conftest import settings_for
from tests.factories import make_group, make_member, make_session

NETWORKS = "METRICS_ALLOWED_NETWORKS"
TOKEN = "a-metrics-token-long-enough-for-the-check-0123456789"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABELS = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\}'
VALUE = r"(?:[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf)|NaN)"
SAMPLE = re.compile(rf"^({NAME})({LABELS})? ({VALUE})$")


def parse(text: str) -> dict[str, float]:
    """The samples of an exposition by name and labels, checking every line's form: HELP and
    TYPE once per family and before its samples, each sample of a declared family."""
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    helped: set[str] = set()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helped
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}
            assert name in helped and name not in declared
            declared[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name = match.group(1)
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in declared or declared.get(base) == "histogram", line
            samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples


def open_session(group, **when: int):
    """An open session of ``group``, made on a day of its own first (a facilitator's sessions
    may not overlap, even for a moment)."""
    return open_room(group, days_ahead=20 + GroupSession.objects.count(), **when)


def post(user, session, body: str = "Hello") -> None:
    """Join the room and post one message, as a socket does."""
    now = timezone.now()
    access = room_access(user=user, session_id=session.pk, now=now)
    room_join(access=access, channel_name=f"test.{uuid.uuid4()}", now=now)
    message_post(actor=user, session_id=session.pk, body=body, client_id=uuid.uuid4())


@pytest.fixture
def metrics_settings(settings):
    settings.METRICS_ALLOWED_NETWORKS = [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    settings.METRICS_TOKEN = TOKEN
    return settings


@pytest.mark.django_db
def test_an_allowed_address_reads_every_figure_in_the_text_format(
    client, therapist, metrics_settings
):
    group = make_group(therapist)
    member = make_member(group).user
    session = open_session(group)
    make_session(group, days_ahead=3)  # not open yet
    post(member, session)
    now = timezone.now()
    Reminder.objects.create(
        user=member, session=session, lead_minutes=15, due_at=now - timedelta(minutes=10)
    )
    JobRun.objects.create(name="groups.send_due_reminders", last_success_at=now)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "no-cache" in response["Cache-Control"]
    samples = parse(response.content.decode())
    assert samples["hearth_rooms_open"] == 1
    assert samples["hearth_messages_recent"] == 1
    assert 590 <= samples["hearth_reminder_lag_seconds"] <= 660
    job = 'hearth_job_last_success_timestamp_seconds{job="groups.send_due_reminders"}'
    assert samples[job] == pytest.approx(now.timestamp())
    assert 'hearth_job_last_success_timestamp_seconds{job="chat.close_ended_sessions"}' not in (
        samples
    )
    assert samples['hearth_job_interval_seconds{job="chat.close_ended_sessions"}'] == 60
    for name in ("hearth_sockets_open", "hearth_channel_layer_errors_total"):
        assert name in samples
    assert samples['hearth_message_post_seconds_bucket{le="+Inf"}'] >= 0


@pytest.mark.django_db
def test_rooms_not_open_now_and_old_messages_are_not_counted(client, therapist, metrics_settings):
    group = make_group(therapist)
    member = make_member(group).user
    session = open_session(group, started_minutes_ago=50, minutes_left=10)
    post(member, session)
    now = timezone.now()
    session.messages.update(created_at=now - timedelta(minutes=6))
    GroupSession.objects.filter(pk=session.pk).update(closed_at=now - timedelta(minutes=1))
    soon = open_session(group, started_minutes_ago=-12, minutes_left=25)
    GroupSession.objects.filter(pk=soon.pk).update(room_opens_minutes=20)  # opened 8 min ago
    not_yet = open_session(group, started_minutes_ago=-26, minutes_left=30)  # opens in 16 min
    cancelled = open_session(group, started_minutes_ago=-31, minutes_left=40)
    GroupSession.objects.filter(pk=cancelled.pk).update(
        room_opens_minutes=60, cancelled_at=now, cancel_reason="Unwell"
    )

    samples = parse(client.get("/metrics").content.decode())

    assert samples["hearth_rooms_open"] == 1, (soon, not_yet)
    assert samples["hearth_messages_recent"] == 0
    assert samples["hearth_reminder_lag_seconds"] == 0


@pytest.mark.django_db
def test_the_token_opens_the_metrics_to_any_address(client, metrics_settings):
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )
    assert response.status_code == 200
    assert "hearth_rooms_open" in parse(response.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer not-the-token"},
        {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}x"},
        {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
    ],
)
def test_another_address_without_the_right_token_finds_nothing(client, metrics_settings, headers):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", **headers)
    assert response.status_code == 404
    assert b"hearth_" not in response.content


@pytest.mark.django_db
def test_no_token_set_means_only_the_allowed_networks(client, metrics_settings):
    metrics_settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404
    metrics_settings.METRICS_ALLOWED_NETWORKS = [ip_network("203.0.113.0/24")]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 200
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed


@pytest.mark.django_db
def test_a_logged_in_person_is_not_let_in_by_their_login(client, member, metrics_settings):
    client.force_login(member)
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 404


@pytest.mark.django_db
def test_the_metrics_take_a_fixed_number_of_queries(
    client, therapist, metrics_settings, django_assert_num_queries
):
    group = make_group(therapist)
    for index in range(3):
        session = open_session(group, started_minutes_ago=-20 * index, minutes_left=20 * index + 10)
        GroupSession.objects.filter(pk=session.pk).update(room_opens_minutes=60)
        post(make_member(group).user, session)
    JobRun.objects.create(name="groups.send_due_reminders", last_success_at=timezone.now())
    # Rooms open, messages lately, the reminder lag, the jobs' last runs.
    with django_assert_num_queries(4):
        response = client.get("/metrics")
    assert parse(response.content.decode())["hearth_rooms_open"] == 3


def test_the_allowed_networks_and_the_token_are_checked_at_startup():
    def networks(value: str | None) -> list[str]:
        return [str(net) for net in settings_for(METRICS_ALLOWED_NETWORKS=value)[NETWORKS]]

    assert networks(None) == ["127.0.0.0/8", "::1/128"]
    assert networks("10.0.0.0/8, 192.0.2.1") == ["10.0.0.0/8", "192.0.2.1/32"]
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_NETWORKS"):
        settings_for(METRICS_ALLOWED_NETWORKS="10.0.0.0/33")
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN"):
        settings_for(METRICS_TOKEN="short")


def test_counters_and_histograms_count_every_update_from_many_threads():
    registry = Registry()
    counter = registry.register(Counter("things_total", "Things."))
    gauge = registry.register(Gauge("open_things", "Open things."))
    histogram = registry.register(Histogram("thing_seconds", "Thing time.", buckets=(0.1, 1)))

    def work() -> None:
        for index in range(10_000):
            counter.inc()
            gauge.inc()
            gauge.dec()
            histogram.observe(0.05 if index % 2 else 0.5)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    samples = parse("\n".join(registry.render()) + "\n")
    assert samples["things_total"] == 80_000
    assert samples["open_things"] == 0
    assert samples['thing_seconds_bucket{le="0.1"}'] == 40_000
    assert samples['thing_seconds_bucket{le="1"}'] == 80_000  # buckets are cumulative
    assert samples['thing_seconds_bucket{le="+Inf"}'] == 80_000
    assert samples["thing_seconds_count"] == 80_000
    assert samples["thing_seconds_sum"] == pytest.approx(40_000 * 0.05 + 40_000 * 0.5)


def test_a_metric_name_is_registered_once_and_counters_only_go_up():
    registry = Registry()
    counter = registry.register(Counter("things_total", "Things."))
    with pytest.raises(ValueError, match="registered already"):
        registry.register(Counter("things_total", "Again."))
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc(-1)
    with pytest.raises(ValueError, match="_total"):
        Counter("things", "A counter without _total.")
