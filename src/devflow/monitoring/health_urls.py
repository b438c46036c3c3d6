"""Health check pages, under /monitoring/health/ (namespace "monitoring")."""

from __future__ import annotations

from django.urls import URLPattern, path

from devflow.monitoring import health_views as views

urlpatterns: list[URLPattern] = [
    path("", views.health_list, name="health_list"),
    path("new/", views.health_new, name="health_new"),
    path("<int:check_id>/", views.health_detail, name="health_detail"),
    path("<int:check_id>/series.json", views.health_series, name="health_series"),
    path("<int:check_id>/edit/", views.health_edit, name="health_edit"),
    path("<int:check_id>/delete/", views.health_delete, name="health_delete"),
    path("<int:check_id>/pause/", views.health_pause, name="health_pause"),
    path("<int:check_id>/resume/", views.health_resume, name="health_resume"),
    path("<int:check_id>/run/", views.health_run, name="health_run"),
]
