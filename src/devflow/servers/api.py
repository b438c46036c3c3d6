"""API: servers (with facts, check and quick actions), tags, groups."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, filters, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts.choices import Action
from devflow.api.errors import refused
from devflow.api.idempotency import idempotent
from devflow.api.serializers import StrictModelSerializer, team_field
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core.api import JobSerializer
from devflow.core.models import ActivitySource
from devflow.servers import api_extras, services
from devflow.servers.models import Server, ServerGroup, SshKey, Tag


class ServerSerializer(StrictModelSerializer):
    ssh_key = serializers.PrimaryKeyRelatedField(
        queryset=SshKey.objects.all(), required=False, allow_null=True
    )
    group = serializers.PrimaryKeyRelatedField(
        queryset=ServerGroup.objects.all(), required=False, allow_null=True
    )
    tags = serializers.PrimaryKeyRelatedField(queryset=Tag.objects.all(), many=True, required=False)
    sudo_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    team = team_field()

    class Meta:
        model = Server
        fields = [
            "id", "team", "name", "is_local", "host", "port", "username", "ssh_key", "group",
            "tags", "sudo_password", "ping_enabled", "status", "status_message",
            "latency_ms", "last_seen_at", "last_checked_at", "host_key_fingerprint",
            "facts", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "is_local", "status", "status_message", "latency_ms", "last_seen_at",
            "last_checked_at", "host_key_fingerprint", "facts", "created_at",
        ]  # fmt: skip


def _data(validated: dict[str, Any], server: Server | None = None) -> services.ServerData:
    def pick(name: str, default: Any) -> Any:
        return validated.get(name, getattr(server, name, default) if server else default)

    return services.ServerData(
        name=pick("name", ""),
        host=pick("host", ""),
        port=pick("port", 22),
        username=pick("username", "root"),
        ssh_key=pick("ssh_key", None),
        sudo_password=validated.get("sudo_password"),
        group=pick("group", None),
        tags=validated.get("tags"),
        ping_enabled=pick("ping_enabled", True),
    )


class ServerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """Servers of your teams. Adding one queues its first check (host key, facts)."""

    # The serializer reads ssh_key and group as ids (ssh_key_id, group_id): joining them only
    # built a key per row and decrypted its private half (~4 ms a page of 200).
    queryset = Server.objects.prefetch_related("tags")
    serializer_class = ServerSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_fields = ["team", "status", "group", "tags", "is_local"]
    search_fields = ["name", "host"]
    ordering_fields = ["name", "created_at", "status", "id"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Server]:
        queryset = super().get_queryset()
        if self.action == "list":
            # Write-only: a list never shows it, so it is not read (nor decrypted) for every row.
            queryset = queryset.defer("sudo_password")
        return queryset

    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = self.team_for_new(serializer.validated_data.get("team_id"))
        try:
            server, _ = services.create_server(
                request.user, team, _data(serializer.validated_data),
                request=request._request, source=ActivitySource.API,
            )  # fmt: skip
        except services.ServerError as error:
            raise refused(error) from None
        return Response(self.get_serializer(server).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        server = self.get_object()
        partial = kwargs.get("partial", False)
        serializer = self.get_serializer(server, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("team_id", server.team_id) != server.team_id:
            raise exceptions.ValidationError({"team": ["A server cannot move to another team."]})
        try:
            services.update_server(
                request.user, server, _data(serializer.validated_data, server),
                request=request._request,
            )  # fmt: skip
        except services.ServerError as error:
            raise refused(error) from None
        return Response(self.get_serializer(server).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: Server) -> None:
        services.delete_server(self.request.user, instance, request=self.request._request)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    @idempotent
    def check(self, request: Request, pk: Any = None) -> Response:
        """Connect, pin the host key on first contact, gather facts (a job)."""
        server = self.get_object()
        job = services.queue_job(
            request.user, server, "servers.check", request=request._request,
            source=ActivitySource.API,
        )  # fmt: skip
        return Response(JobSerializer(job, context={"request": request}).data, status=202)


class TagSerializer(StrictModelSerializer):
    team = team_field()

    class Meta:
        model = Tag
        fields = ["id", "team", "name", "colour"]


class TagViewSet(
    api_extras.TagWrites, mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet
):
    queryset = Tag.objects.all().order_by("name")
    serializer_class = TagSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["team"]


class GroupSerializer(StrictModelSerializer):
    team = team_field()

    class Meta:
        model = ServerGroup
        fields = ["id", "team", "name", "description"]


class GroupViewSet(
    api_extras.GroupWrites, mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet
):
    queryset = ServerGroup.objects.all().order_by("name")
    serializer_class = GroupSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["team"]


def register(router: BaseRouter) -> None:
    router.register("servers", ServerViewSet, basename="server")
    router.register("tags", TagViewSet, basename="tag")
    router.register("groups", GroupViewSet, basename="group")
    api_extras.register(router)
