"""/api/v1/: one router; each app adds its view sets from its own `api.py`."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from devflow.accounts import api as accounts_api
from devflow.api import errors
from devflow.api import schema as _schema  # noqa: F401  (the token auth's OpenAPI description)
from devflow.core import api as core_api
from devflow.deployments import api as deployments_api
from devflow.monitoring import api as monitoring_api
from devflow.notifications import api as notifications_api
from devflow.projects import api as projects_api
from devflow.servers import api as servers_api
from devflow.webhooks import api as webhooks_api

app_name = "api"

router = DefaultRouter()
for module in (
    accounts_api, core_api, servers_api, projects_api, deployments_api, webhooks_api,
    monitoring_api, notifications_api,
):  # fmt: skip
    module.register(router)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("", include(router.urls)),
    re_path(r"^.*$", errors.not_found),
]
