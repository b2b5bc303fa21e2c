from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("therapist/", views.therapist_apply, name="therapist_apply"),
]
