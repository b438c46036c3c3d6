from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from devflow.api import errors as api_errors
from devflow.monitoring import views as monitoring_views
from devflow.webhooks import endpoint as webhook_endpoint

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("devflow.accounts.urls")),
    path("servers/", include("devflow.servers.urls")),
    path("projects/", include("devflow.projects.urls")),
    path("deployments/", include("devflow.deployments.urls")),
    re_path(
        r"^hooks/(?P<provider>[a-z0-9-]+)/(?P<public_id>[A-Za-z0-9_-]+)/?$",
        webhook_endpoint.receive,
        name="webhook",
    ),
    path("webhooks/", include("devflow.webhooks.urls")),
    path("monitoring/", include("devflow.monitoring.urls")),
    path("notifications/", include("devflow.notifications.urls")),
    path("api/v1/", include("devflow.api.urls")),
    re_path(r"^api/", api_errors.not_found),
    path("metrics", monitoring_views.prometheus_metrics, name="prometheus_metrics"),
    path("", include("devflow.core.urls")),
]
