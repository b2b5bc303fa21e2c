"""The audit log is append-only at every layer and holds ids, never text."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts.exceptions import ServiceError
from accounts.roles import Role
from accounts.services import role_grant
from moderation.audit import audit_context, audit_record
from moderation.models import AppendOnlyError, AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(member):
    return audit_record(actor=member, action=AuditAction.ACCOUNT_PROFILE_CHANGED, target=member)


def test_an_event_names_actor_action_target_and_address(member):
    with audit_context(ip_address="203.0.113.9"):
        event = audit_record(
            actor=member,
            action=AuditAction.ACCOUNT_PROFILE_CHANGED,
            target=member,
            group_id=7,
            session_id=70,
            details={"fields": ["time_zone"]},
        )
    event.refresh_from_db()
    assert event.actor == member
    assert event.action == "account.profile_changed"
    assert (event.target_type, event.target_id) == ("accounts.user", str(member.pk))
    assert (event.group_id, event.session_id) == (7, 70)
    assert event.ip_address == "203.0.113.9"
    assert event.details == {"fields": ["time_zone"]}


@pytest.mark.parametrize(
    "details",
    [
        {"message": "I feel like giving up"},
        {"reason": "said something unkind to me"},
        {"ids": [1, 2, "free text here"]},
        {"nested": {"a": 1}},
        {"bad key!": 1},
    ],
)
def test_free_text_is_refused_in_details(member, details):
    with pytest.raises(ValueError, match=r"(?i)audit"):
        audit_record(actor=member, action=AuditAction.ACCOUNT_PROFILE_CHANGED, details=details)
    assert not AuditEvent.objects.exists()


def test_the_orm_refuses_to_change_an_event(event):
    event.action = AuditAction.ACCOUNT_LOGGED_OUT
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().bulk_update([event], ["action"])


def test_the_orm_refuses_to_delete_an_event(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_postgresql_rejects_raw_update_and_delete(event):
    for sql in (
        "UPDATE moderation_auditevent SET action = 'forged' WHERE id = %s",
        "DELETE FROM moderation_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.action == AuditAction.ACCOUNT_PROFILE_CHANGED


def test_the_admin_shows_events_but_refuses_changes(client, staff_user, event):
    client.force_login(staff_user)
    assert client.get(reverse("admin:moderation_auditevent_changelist")).status_code == 200
    change_url = reverse("admin:moderation_auditevent_change", args=[event.pk])
    assert client.get(change_url).status_code == 200  # a read-only view
    response = client.post(change_url, {"action": "account.logged_out"})
    assert response.status_code == 403
    delete_url = reverse("admin:moderation_auditevent_delete", args=[event.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    response = client.post(
        reverse("admin:moderation_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    event.refresh_from_db()
    assert event.action == AuditAction.ACCOUNT_PROFILE_CHANGED


def test_a_change_that_rolls_back_leaves_no_audit_row(superuser, member):
    with pytest.raises(RuntimeError), transaction.atomic():
        role_grant(actor=superuser, user=member, role=Role.STAFF)
        raise RuntimeError("the request failed after the grant")
    assert not AuditEvent.objects.filter(action=AuditAction.ACCOUNT_ROLE_GRANTED).exists()
    member.refresh_from_db()
    assert not member.is_staff


def test_a_refused_change_writes_no_event(member, outsider):
    with pytest.raises(ServiceError):
        role_grant(actor=member, user=outsider, role=Role.STAFF)
    assert not AuditEvent.objects.exists()


def test_requests_attribute_events_to_the_client_address(client, member):
    client.force_login(member)
    client.post(
        reverse("accounts:profile"),
        {"display_name": "New Name Here", "time_zone": "UTC", "country": ""},
        REMOTE_ADDR="198.51.100.4",
    )
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_PROFILE_CHANGED)
    assert event.ip_address == "198.51.100.4"


def test_logging_in_and_out_is_recorded(client, member):
    from tests.factories import PASSWORD

    client.post(reverse("account_login"), {"login": member.email, "password": PASSWORD})
    client.post(reverse("account_logout"))
    actions = list(
        AuditEvent.objects.filter(actor=member).order_by("id").values_list("action", flat=True)
    )
    assert actions == [AuditAction.ACCOUNT_LOGIN_SUCCEEDED, AuditAction.ACCOUNT_LOGGED_OUT]


def test_staff_search_the_audit_log_and_export_it_as_csv(client, staff_user, member, therapist):
    import csv
    import io

    from tests.factories import make_group

    group = make_group(therapist)
    client.force_login(staff_user)
    page = client.get(reverse("moderation:audit_log"), {"action": "group.created"})
    assert page.status_code == 200
    assert [e.action for e in page.context["page"]] == ["group.created"]
    by_group = client.get(reverse("moderation:audit_log"), {"group": group.pk})
    assert {e.group_id for e in by_group.context["page"]} == {group.pk}
    response = client.get(reverse("moderation:audit_export"), {"actor": therapist.pk})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["time_utc", "actor_id", "action"]
    assert rows[1:] and all(row[1] == str(therapist.pk) for row in rows[1:])
    assert (
        AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED, actor=staff_user).count() == 1
    )
    bad = client.get(reverse("moderation:audit_log"), {"actor": "abc", "since": "not a date"})
    assert bad.status_code == 200


@pytest.mark.parametrize("persona", ["member", "therapist", "outsider"])
def test_only_staff_see_the_audit_log(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("moderation:audit_log")).status_code == 404
    assert client.get(reverse("moderation:audit_export")).status_code == 404
