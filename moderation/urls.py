from django.urls import path

from moderation import audit_views, data_rights_views, views

app_name = "moderation"

urlpatterns = [
    path("groups/<slug:slug>/report/", views.report_new, name="report"),
    path("moderation/reports/<int:report_id>/sent/", views.report_sent, name="report_sent"),
    path("moderation/reports/", views.report_queue, name="queue"),
    path("moderation/reports/<int:report_id>/", views.report_detail, name="report_detail"),
    path("moderation/audit/", audit_views.audit_log, name="audit_log"),
    path("moderation/audit.csv", audit_views.audit_export, name="audit_export"),
    path("accounts/my-data/", data_rights_views.my_data, name="my_data"),
    path("accounts/close/", data_rights_views.close_account, name="close_account"),
]
