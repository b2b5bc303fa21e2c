from django.urls import path

from moderation import audit_views, views

app_name = "moderation"

urlpatterns = [
    path("groups/<slug:slug>/report/", views.report_new, name="report"),
    path("moderation/reports/", views.report_queue, name="queue"),
    path("moderation/reports/<int:report_id>/", views.report_detail, name="report_detail"),
    path("moderation/audit/", audit_views.audit_log, name="audit_log"),
    path("moderation/audit.csv", audit_views.audit_export, name="audit_export"),
]
