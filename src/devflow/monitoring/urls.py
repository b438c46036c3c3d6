"""Monitoring pages under /monitoring/; the Prometheus endpoint is /metrics (devflow.urls)."""

from __future__ import annotations

from django.urls import include, path

from devflow.monitoring import alert_urls, health_urls, views

app_name = "monitoring"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("servers/<int:server_id>/", views.server_metrics, name="server"),
    path("servers/<int:server_id>/series.json", views.server_series, name="series"),
    path("servers/<int:server_id>/export.csv", views.server_csv, name="csv"),
    path("tokens/", views.token_create, name="token_create"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("health/", include(health_urls.urlpatterns)),
    path("alerts/", include(alert_urls.urlpatterns)),
]
