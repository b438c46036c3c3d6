"""API: projects, their environments (and deploying one), and each environment's variables.

Variable values are secrets: a listing shows `"value": null` unless the request may read
secrets (a token with the `read:secrets` scope, or the session) and the user's role may edit
the environment, the role that sets them on the page. `is_secret` is always true.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, filters, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts.choices import Action
from devflow.api.errors import refused
from devflow.api.idempotency import idempotent
from devflow.api.permissions import may_read_secrets, require
from devflow.api.serializers import StrictModelSerializer, StrictSerializer, team_field
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core.access import me
from devflow.core.api import JobSerializer
from devflow.core.models import ActivitySource
from devflow.core.tenancy import can
from devflow.deployments.api import DeployActions
from devflow.projects import services
from devflow.projects.models import Environment, Project, Variable
from devflow.projects.validation import format_commands
from devflow.servers.models import Server, SshKey

PIPELINE_FIELDS = (
    "build_commands", "deploy_commands", "post_deploy_commands", "smoke_command",
    "shared_paths", "health_check_path", "keep_releases", "deploy_timeout_seconds",
    "command_timeout_seconds", "health_check_retries",
)  # fmt: skip


class CommandSerializer(StrictSerializer):
    """One pipeline command; `once` runs it on one server of the environment (migrations)."""

    run = serializers.CharField(max_length=2000)
    once = serializers.BooleanField(default=False)

    def validate_run(self, value: str) -> str:
        # The service reads commands as lines: one line each, and not a comment or "once:".
        if "\n" in value or "\r" in value:
            raise serializers.ValidationError("A command is one line.")
        if value.lstrip().startswith("#") or value.lstrip().lower().startswith("once:"):
            raise serializers.ValidationError("A command cannot start with # or once:.")
        return value


def _commands_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=CommandSerializer(), required=False, help_text=help_text)


class EnvironmentBriefSerializer(StrictModelSerializer):
    class Meta:
        model = Environment
        fields = ["id", "name", "branch"]
        read_only_fields = fields


class ProjectSerializer(StrictModelSerializer):
    """A project and the pipeline it runs; its environments are listed by id, name, branch."""

    team = team_field()
    deploy_key = serializers.PrimaryKeyRelatedField(
        queryset=SshKey.objects.all(), required=False, allow_null=True
    )
    build_commands = _commands_field("Before the switch, in the new release.")
    deploy_commands = _commands_field("Still before the switch: migrations (once), caches.")
    post_deploy_commands = _commands_field("After the switch; a failure switches back.")
    shared_paths = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False,
        help_text="Relative paths kept in <deploy path>/shared/ and linked into each release.",
    )  # fmt: skip
    environments = EnvironmentBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Project
        fields = [
            "id", "team", "name", "repository_url", "deploy_key", "template", "framework",
            *PIPELINE_FIELDS, "environments", "created_at",
        ]  # fmt: skip
        read_only_fields = ["template", "framework", "created_at"]


class NewEnvironmentSerializer(StrictSerializer):
    name = serializers.CharField(max_length=40, default="production")
    branch = serializers.CharField(max_length=200, default="main")
    servers = serializers.PrimaryKeyRelatedField(queryset=Server.objects.all(), many=True)
    deploy_path = serializers.CharField(max_length=300)
    health_check_url = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        servers: Any = fields["servers"]
        servers.child_relation.queryset = Server.objects.for_user(user)
        return fields


class NewProjectSerializer(StrictSerializer):
    """A new project from a template, with its first environment (as on the page)."""

    team = team_field()
    name = serializers.CharField(max_length=100)
    repository_url = serializers.CharField(max_length=500)
    deploy_key = serializers.PrimaryKeyRelatedField(
        queryset=SshKey.objects.all(), required=False, allow_null=True
    )
    template = serializers.CharField(
        max_length=60, default="custom",
        help_text="A built-in template (laravel, django, static, custom...) or saved:<id>.",
    )  # fmt: skip
    environment = NewEnvironmentSerializer()

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        deploy_key: Any = fields["deploy_key"]
        deploy_key.queryset = SshKey.objects.for_user(user)
        return fields


def _pipeline(data: dict[str, Any], project: Project) -> services.PipelineData:
    """The service's pipeline form: commands as lines, missing fields as they are now."""

    def pick(name: str) -> Any:
        return data[name] if name in data else getattr(project, name)

    return services.PipelineData(
        build_commands=format_commands(pick("build_commands")),
        deploy_commands=format_commands(pick("deploy_commands")),
        post_deploy_commands=format_commands(pick("post_deploy_commands")),
        smoke_command=pick("smoke_command"),
        shared_paths="\n".join(pick("shared_paths")),
        health_check_path=pick("health_check_path"),
        keep_releases=pick("keep_releases"),
        deploy_timeout_seconds=pick("deploy_timeout_seconds"),
        command_timeout_seconds=pick("command_timeout_seconds"),
        health_check_retries=pick("health_check_retries"),
    )


class ProjectViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """Projects of your teams. Creating one needs the maintainer role; deleting, the owner's."""

    # A project lists its environments by id, name and branch: load those columns only (not
    # each environment's latest commits), in the order they had (by id within a project).
    queryset = Project.objects.prefetch_related(
        Prefetch(
            "environments",
            queryset=Environment.objects.only("id", "project_id", "name", "branch").order_by("id"),
        )
    )
    serializer_class = ProjectSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_fields = ["team", "framework"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if self.action == "destroy":
            self.required_action = Action.ADMINISTER  # as on the page: owners delete projects
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request=NewProjectSerializer,
        responses={201: ProjectSerializer},
        examples=[
            OpenApiExample(
                "A Laravel app on two servers",
                value={
                    "name": "Shop", "repository_url": "git@git.example.com:acme/shop.git",
                    "deploy_key": 2, "template": "laravel",
                    "environment": {"name": "production", "branch": "main", "servers": [3, 4],
                                    "deploy_path": "/var/www/shop"},
                },
                request_only=True,
            )
        ],
    )  # fmt: skip
    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = NewProjectSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        team = self.team_for_new(data.get("team_id"))
        env = data["environment"]
        try:
            project = services.create_project(
                me(request), team,
                services.ProjectData(
                    name=data["name"], repository_url=data["repository_url"],
                    deploy_key=data.get("deploy_key"), template=data["template"],
                ),
                services.EnvironmentData(
                    name=env["name"], branch=env["branch"], servers=list(env["servers"]),
                    deploy_path=env["deploy_path"],
                    health_check_url=env.get("health_check_url", ""),
                ),
                request=request._request, source=ActivitySource.API,
            )  # fmt: skip
        except services.ProjectError as error:
            raise refused(error) from None
        return Response(self._read(project.pk), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_object()
        partial = kwargs.get("partial", False)
        serializer = self.get_serializer(project, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("team_id", project.team_id) != project.team_id:
            raise exceptions.ValidationError({"team": ["A project cannot move to another team."]})
        pipeline = _pipeline(data, project) if set(PIPELINE_FIELDS) & set(data) else None
        try:
            services.update_project(
                me(request), project,
                services.ProjectData(
                    name=data.get("name", project.name),
                    repository_url=data.get("repository_url", project.repository_url),
                    deploy_key=data.get("deploy_key", project.deploy_key),
                    template=project.template,
                ),
                pipeline, request=request._request, source=ActivitySource.API,
            )  # fmt: skip
        except services.ProjectError as error:
            raise refused(error) from None
        return Response(self._read(project.pk))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: Project) -> None:
        try:
            services.delete_project(me(self.request), instance, request=self.request._request)
        except services.ProjectError as error:
            raise refused(error) from None

    def _read(self, pk: int) -> dict[str, Any]:
        """The project as saved (read again: the service may have normalised what was sent)."""
        return dict(self.get_serializer(self.get_queryset().get(pk=pk)).data)


# Environments ---------------------------------------------------------------------------------


class EnvironmentSerializer(StrictModelSerializer):
    """Where and from which branch a project deploys; `commits` is the branch's latest."""

    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    servers = serializers.PrimaryKeyRelatedField(queryset=Server.objects.all(), many=True)

    class Meta:
        model = Environment
        fields = [
            "id", "project", "name", "branch", "servers", "deploy_path", "health_check_url",
            "head_sha", "behind_count", "commits", "commits_refreshed_at", "commits_error",
            "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "head_sha", "behind_count", "commits", "commits_refreshed_at", "commits_error",
            "created_at",
        ]  # fmt: skip
        extra_kwargs = {"branch": {"required": False}, "health_check_url": {"required": False}}


class VariableSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(allow_null=True, help_text="null unless you may read secrets.")
    is_secret = serializers.BooleanField(help_text="Always true: every value is a secret.")
    updated_at = serializers.DateTimeField()


PaginatedVariableList = inline_serializer(
    "PaginatedVariableList",
    {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": VariableSerializer(many=True),
    },
)


class SetVariableSerializer(StrictSerializer):
    key = serializers.CharField(max_length=100)
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)


def variable_row(variable: Variable, *, reveal: bool) -> dict[str, Any]:
    return {
        "key": variable.key,
        "value": (variable.value or "") if reveal else None,
        "is_secret": True,
        "updated_at": variable.updated_at,
    }


class EnvironmentViewSet(
    DeployActions,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TeamScopedViewSet,
):
    """Environments of your teams' projects, their variables, and deploying one."""

    queryset = Environment.objects.select_related("project__team").prefetch_related("servers")
    serializer_class = EnvironmentSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_fields = ["project", "branch"]
    search_fields = ["name", "project__name"]
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["project", "id"]

    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = serializer.validated_data["project"]
        require(request, Action.EDIT, project)
        environment = self._save(project, serializer.validated_data, None)
        return Response(self._read(environment.pk), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        environment = self.get_object()
        partial = kwargs.get("partial", False)
        serializer = self.get_serializer(environment, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("project", environment.project) != environment.project:
            raise exceptions.ValidationError(
                {"project": ["An environment cannot move to another project."]}
            )
        self._save(environment.project, serializer.validated_data, environment)
        return Response(self._read(environment.pk))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: Environment) -> None:
        try:
            services.delete_environment(me(self.request), instance, request=self.request._request)
        except services.ProjectError as error:
            raise refused(error) from None

    def _save(
        self, project: Project, data: dict[str, Any], environment: Environment | None
    ) -> Environment:
        def pick(name: str, default: Any) -> Any:
            return data.get(name, getattr(environment, name) if environment else default)

        servers = data.get("servers")
        if servers is None:
            servers = list(environment.servers.all()) if environment else []
        try:
            return services.save_environment(
                me(self.request), project,
                services.EnvironmentData(
                    name=pick("name", ""), branch=pick("branch", "main"), servers=list(servers),
                    deploy_path=pick("deploy_path", ""),
                    health_check_url=pick("health_check_url", ""),
                ),
                environment, request=self.request._request, source=ActivitySource.API,
            )  # fmt: skip
        except services.ProjectError as error:
            raise refused(error) from None

    def _read(self, pk: int) -> dict[str, Any]:
        return dict(self.get_serializer(self.get_queryset().get(pk=pk)).data)

    # Variables: keys for everyone in the team, values only for who may read secrets.

    def _reveal(self, request: Request, environment: Environment) -> bool:
        return may_read_secrets(request) and can(request.user, Action.EDIT, environment)

    @extend_schema(
        responses={200: PaginatedVariableList},
        parameters=[
            OpenApiParameter("page", int, description="A page number within the set."),
            OpenApiParameter("page_size", int, description="Results per page (at most 200)."),
        ],
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def variables(self, request: Request, pk: Any = None) -> Response:
        """The environment's variables by key, a page at a time like every list.

        `value` is null unless the request may read secrets (a token with `read:secrets`, or
        the session) and your role may edit the environment; `is_secret` is always true.
        """
        environment = self.get_object()
        reveal = self._reveal(request, environment)
        page = self.paginate_queryset(environment.variables.order_by("key"))
        rows = [variable_row(v, reveal=reveal) for v in page or []]
        return self.get_paginated_response(VariableSerializer(rows, many=True).data)

    @extend_schema(
        request=SetVariableSerializer,
        responses={200: VariableSerializer},
        examples=[OpenApiExample("Set one", value={"key": "APP_ENV", "value": "production"},
                                 request_only=True)],
    )  # fmt: skip
    @variables.mapping.post
    def set_variable(self, request: Request, pk: Any = None) -> Response:
        """Add or replace one variable (POST or PUT); the value is stored encrypted."""
        environment = self.get_object()
        body = SetVariableSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            variable = services.set_variable(
                me(request), environment, body.validated_data["key"],
                body.validated_data["value"], request=request._request,
                source=ActivitySource.API,
            )  # fmt: skip
        except services.ProjectError as error:
            raise refused(error) from None
        row = variable_row(variable, reveal=self._reveal(request, environment))
        return Response(VariableSerializer(row).data)

    @extend_schema(request=SetVariableSerializer, responses={200: VariableSerializer})
    @variables.mapping.put
    def put_variable(self, request: Request, pk: Any = None) -> Response:
        """Add or replace one variable (the same as POST)."""
        return self.set_variable(request, pk)

    @extend_schema(
        request=None, responses={204: None},
        parameters=[OpenApiParameter("key", str, OpenApiParameter.PATH)],
    )  # fmt: skip
    @action(
        detail=True, methods=["delete"], url_path=r"variables/(?P<key>[A-Za-z_][A-Za-z0-9_]*)",
        required_action=Action.EDIT,
    )  # fmt: skip
    def delete_variable(self, request: Request, pk: Any = None, key: str = "") -> Response:
        """Delete one variable by key."""
        environment = self.get_object()
        try:
            services.delete_variable(me(request), environment, key, request=request._request)
        except services.ProjectError as error:
            raise exceptions.NotFound(str(error)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(
        detail=True, methods=["post"], url_path="refresh-commits", required_action=Action.DEPLOY
    )
    def refresh_commits(self, request: Request, pk: Any = None) -> Response:
        """Fetch the branch's latest commits on the environment's first server (a job)."""
        environment = self.get_object()
        job = services.refresh_commits(
            me(request), environment, request=request._request, source=ActivitySource.API
        )
        return Response(JobSerializer(job, context={"request": request}).data, status=202)


def register(router: BaseRouter) -> None:
    """Add this app's view sets to /api/v1/."""
    router.register("projects", ProjectViewSet, basename="project")
    router.register("environments", EnvironmentViewSet, basename="environment")
