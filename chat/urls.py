from django.urls import path

from chat import attendance_views, practice, views

app_name = "chat"

urlpatterns = [
    path("sessions/<int:session_id>/room/", views.room, name="room"),
    path("practice/", practice.practice_room, name="practice"),
    path("practice/report/", practice.practice_report, name="practice_report"),
    path("sessions/<int:session_id>/attendance/", attendance_views.attendance, name="attendance"),
    path(
        "sessions/<int:session_id>/attendance.csv",
        attendance_views.attendance_csv,
        name="attendance_csv",
    ),
]
