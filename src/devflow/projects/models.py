"""Projects, their environments and variables, and the templates teams save."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from devflow.core.fields import EncryptedTextField
from devflow.core.tenancy import TeamOwnedModel, TeamScopedQuerySet


class PipelineFields(models.Model):
    """What a template pre-fills and a project runs: commands, shared paths, checks.

    Commands are lists of {"run": "<shell line>", "once": bool}; "once" hooks run on
    one server of a multi-server environment (migrations).
    """

    framework = models.CharField(max_length=30, default="custom")
    build_commands = models.JSONField(default=list, blank=True)
    deploy_commands = models.JSONField(default=list, blank=True)
    post_deploy_commands = models.JSONField(default=list, blank=True)
    smoke_command = models.CharField(max_length=500, blank=True)
    shared_paths = models.JSONField(default=list, blank=True)
    health_check_path = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True

    def pipeline(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "build_commands": list(self.build_commands),
            "deploy_commands": list(self.deploy_commands),
            "post_deploy_commands": list(self.post_deploy_commands),
            "smoke_command": self.smoke_command,
            "shared_paths": list(self.shared_paths),
            "health_check_path": self.health_check_path,
        }


class ProjectTemplate(TeamOwnedModel, PipelineFields):
    """A custom template a team saved from one of its projects."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("team", Lower("name"), name="projecttemplate_team_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Project(TeamOwnedModel, PipelineFields):
    """A git repository deployed to servers, in one or more environments."""

    name = models.CharField(max_length=100)
    repository_url = models.CharField(max_length=500)
    deploy_key = models.ForeignKey(
        "servers.SshKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="projects",
        help_text="Used to fetch an ssh:// or git@ repository.",
    )
    template = models.CharField(max_length=60, blank=True)
    keep_releases = models.PositiveSmallIntegerField(default=5)
    deploy_timeout_seconds = models.PositiveIntegerField(default=900)
    command_timeout_seconds = models.PositiveIntegerField(default=600)
    health_check_retries = models.PositiveSmallIntegerField(default=5)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("team", Lower("name"), name="project_team_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def lock_key(self) -> str:
        return f"project:{self.pk}"


class EnvironmentQuerySet(TeamScopedQuerySet["Environment"]):
    team_path = "project__team"


class Environment(models.Model):
    """Production, staging...: where and from which branch a project is deployed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=40)
    branch = models.CharField(max_length=200, default="main")
    servers = models.ManyToManyField("servers.Server", related_name="environments")
    deploy_path = models.CharField(max_length=300)
    health_check_url = models.CharField(
        max_length=500, blank=True, help_text="Fetched on the server after the swap."
    )
    commits = models.JSONField(default=list, blank=True)
    commits_refreshed_at = models.DateTimeField(null=True, blank=True)
    commits_error = models.CharField(max_length=500, blank=True)
    head_sha = models.CharField(max_length=40, blank=True)
    behind_count = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EnvironmentQuerySet.as_manager()

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(
                "project", Lower("name"), name="environment_project_name_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.name} / {self.name}"

    @property
    def team(self) -> Any:
        return self.project.team


class VariableQuerySet(TeamScopedQuerySet["Variable"]):
    team_path = "environment__project__team"


class Variable(models.Model):
    """One environment variable; the value is encrypted at rest and masked on the page."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="variables")
    key = models.CharField(max_length=100)
    value = EncryptedTextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VariableQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "key"], name="variable_env_key_unique")
        ]

    def __str__(self) -> str:
        return self.key
