from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("devflow.accounts.urls")),
    path("servers/", include("devflow.servers.urls")),
    path("projects/", include("devflow.projects.urls")),
    path("deployments/", include("devflow.deployments.urls")),
    path("", include("devflow.core.urls")),
]
