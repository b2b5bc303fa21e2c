from django.urls import path

from groups import calendar_views, checkout_views, note_views, views

app_name = "groups"

urlpatterns = [
    path("groups/", views.directory, name="directory"),
    path("groups/new/", views.group_create, name="create"),
    path("find-a-group/", views.finder, name="finder"),
    path("groups/<slug:slug>/", views.group_detail, name="detail"),
    path("groups/<slug:slug>/join/", views.join, name="join"),
    path("groups/<slug:slug>/leave/", views.leave, name="leave"),
    path("groups/<slug:slug>/manage/", views.manage, name="manage"),
    path("groups/<slug:slug>/edit/", views.group_edit, name="edit"),
    path("groups/<slug:slug>/archive/", views.group_archive, name="archive"),
    path("groups/<slug:slug>/sessions/new/", views.schedule, name="schedule"),
    path(
        "groups/<slug:slug>/members/<int:enrollment_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "groups/<slug:slug>/members/<int:enrollment_id>/admit/",
        views.member_admit,
        name="member_admit",
    ),
    path("groups/<slug:slug>/invitations/", views.invite, name="invite"),
    path(
        "groups/<slug:slug>/co-facilitators/",
        views.co_facilitator_add,
        name="co_facilitator_add",
    ),
    path(
        "groups/<slug:slug>/co-facilitators/<int:user_id>/remove/",
        views.co_facilitator_remove,
        name="co_facilitator_remove",
    ),
    path(
        "groups/<slug:slug>/invitations/<int:invitation_id>/withdraw/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("sessions/<int:session_id>/move/", views.session_reschedule, name="session_reschedule"),
    path("sessions/<int:session_id>/cancel/", views.session_cancel, name="session_cancel"),
    path("sessions/<int:session_id>/notes/", note_views.session_notes, name="session_notes"),
    path(
        "sessions/<int:session_id>/notes/members/<int:enrollment_id>/",
        note_views.member_notes,
        name="member_notes",
    ),
    path("notes/<int:note_id>/edit/", note_views.note_edit, name="note_edit"),
    path("sessions/<int:session_id>/check-out/", checkout_views.checkout, name="checkout"),
    path("groups/<slug:slug>/check-outs/", checkout_views.group_checkouts, name="group_checkouts"),
    path("sessions/<int:session_id>/calendar.ics", calendar_views.session_ics, name="session_ics"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("schedule/", views.my_schedule, name="my_schedule"),
    path("facilitate/", views.dashboard, name="dashboard"),
    path("calendar/", calendar_views.calendar_settings, name="calendar_settings"),
    path("reminders/", views.reminder_settings, name="reminder_settings"),
    path(
        "reminders/unsubscribe/<str:token>/",
        views.reminders_unsubscribe,
        name="reminders_unsubscribe",
    ),
    path("calendar/<str:token>.ics", calendar_views.feed, name="calendar_feed"),
]
