"""Webhook pages of a project; the public endpoint itself is /hooks/<provider>/<public_id>."""

from __future__ import annotations

from django.urls import path

from devflow.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("projects/<int:project_id>/settings/", views.save_settings, name="settings"),
    path(
        "projects/<int:project_id>/regenerate-secret/",
        views.regenerate_secret,
        name="regenerate_secret",
    ),
    path("projects/<int:project_id>/deliveries/", views.delivery_list, name="deliveries"),
    path(
        "projects/<int:project_id>/deliveries/<int:delivery_id>/",
        views.delivery_detail,
        name="delivery",
    ),
    path(
        "projects/<int:project_id>/deliveries/<int:delivery_id>/redeliver/",
        views.redeliver,
        name="redeliver",
    ),
]
