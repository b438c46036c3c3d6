"""Notification channels and the delivery log, under /notifications/."""

from __future__ import annotations

from django.urls import path

from devflow.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.channel_list, name="channels"),
    path("deliveries/", views.delivery_list, name="deliveries"),
    path("<int:channel_id>/", views.channel_detail, name="channel"),
    path("<int:channel_id>/test/", views.channel_test, name="channel_test"),
    path("<int:channel_id>/secret/", views.channel_secret, name="channel_secret"),
    path("<int:channel_id>/enable/", views.channel_enable, name="channel_enable"),
    path("<int:channel_id>/delete/", views.channel_delete, name="channel_delete"),
]
