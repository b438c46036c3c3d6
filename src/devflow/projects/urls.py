from __future__ import annotations

from django.urls import path

from devflow.projects.views import environments, projects

app_name = "projects"

urlpatterns = [
    path("", projects.project_list, name="list"),
    path("new/", projects.project_new, name="new"),
    path("<int:project_id>/", projects.project_detail, name="detail"),
    path("<int:project_id>/settings/", projects.project_settings, name="settings"),
    path("<int:project_id>/save-template/", projects.project_save_template, name="save_template"),
    path("<int:project_id>/delete/", projects.project_delete, name="delete"),
    path(
        "<int:project_id>/environments/add/",
        environments.environment_form,
        name="environment_add",
    ),
    path(
        "<int:project_id>/environments/<int:environment_id>/edit/",
        environments.environment_form,
        name="environment_edit",
    ),
    path(
        "<int:project_id>/environments/<int:environment_id>/delete/",
        environments.environment_delete,
        name="environment_delete",
    ),
    path(
        "<int:project_id>/environments/<int:environment_id>/refresh-commits/",
        environments.refresh_commits,
        name="refresh_commits",
    ),
    path(
        "<int:project_id>/environments/<int:environment_id>/variables/",
        environments.variables,
        name="variables",
    ),
    path(
        "<int:project_id>/environments/<int:environment_id>/variables/delete/",
        environments.variable_delete,
        name="variable_delete",
    ),
]
