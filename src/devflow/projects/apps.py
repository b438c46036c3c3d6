from __future__ import annotations

from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "devflow.projects"
    label = "projects"
    verbose_name = "Projects"

    def ready(self) -> None:
        from devflow.projects import jobs  # noqa: F401  (job kinds)
