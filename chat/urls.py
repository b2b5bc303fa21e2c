from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("sessions/<int:session_id>/room/", views.room, name="room"),
    path("sessions/<int:session_id>/attendance/", views.attendance, name="attendance"),
]
