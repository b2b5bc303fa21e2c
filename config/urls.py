from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from config import views
from moderation import views as moderation_views

urlpatterns = [
    path("", views.home, name="home"),
    path("how-it-works/", views.how_it_works, name="how_it_works"),
    path("guidelines/", account_views.guidelines, name="guidelines"),
    path("help/", moderation_views.help_now, name="help"),
    path("ping/", views.ping, name="ping"),
    path("health/", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    path("", include("groups.urls")),
    path("", include("chat.urls")),
    path("", include("moderation.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
