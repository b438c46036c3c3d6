from __future__ import annotations

from django.urls import path

from devflow.deployments import views

app_name = "deployments"

urlpatterns = [
    path("", views.deployment_list, name="list"),
    path("<int:deployment_id>/", views.deployment_detail, name="detail"),
    path("<int:deployment_id>/steps/", views.deployment_steps, name="steps"),
    path("<int:deployment_id>/cancel/", views.cancel, name="cancel"),
    path("<int:deployment_id>/redeploy/", views.redeploy, name="redeploy"),
    path("releases/<int:release_id>/rollback/", views.rollback, name="rollback"),
    path("environments/<int:environment_id>/deploy/", views.deploy, name="deploy"),
    path("environments/<int:environment_id>/schedule/", views.schedule_new, name="schedule"),
    path("schedules/<int:schedule_id>/edit/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:schedule_id>/cancel/", views.schedule_cancel, name="schedule_cancel"),
]
