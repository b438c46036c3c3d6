from __future__ import annotations

from django.urls import path

from devflow.core import health, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/log", views.job_log, name="job_log"),
    path("jobs/<int:job_id>/cancel", views.job_cancel, name="job_cancel"),
    path("activity/", views.activity, name="activity"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/check", views.run_diagnostics, name="run_diagnostics"),
    path("<str:section>/", views.section_pending, name="section"),
]
