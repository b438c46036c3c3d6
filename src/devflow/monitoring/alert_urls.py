"""Alert rules and alert history pages, under /monitoring/alerts/ (namespace "monitoring")."""

from __future__ import annotations

from django.urls import URLPattern, path

from devflow.monitoring import alert_views

urlpatterns: list[URLPattern] = [
    path("", alert_views.alert_list, name="alerts"),
    path("<int:alert_id>/", alert_views.alert_detail, name="alert_detail"),
    path("<int:alert_id>/acknowledge/", alert_views.alert_acknowledge, name="alert_acknowledge"),
    path("<int:alert_id>/resolve/", alert_views.alert_resolve, name="alert_resolve"),
    path("rules/", alert_views.rule_list, name="alert_rules"),
    path("rules/new/", alert_views.rule_create, name="alert_rule_create"),
    path("rules/<int:rule_id>/edit/", alert_views.rule_edit, name="alert_rule_edit"),
    path("rules/<int:rule_id>/delete/", alert_views.rule_delete, name="alert_rule_delete"),
]
