"""API: one server's chart series per range, and the newest sample of each server.

Both read through `queries`, exactly as the monitoring pages do; another team's server is
a 404 like everywhere else.
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, filters, mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from devflow.api.viewsets import TeamScopedViewSet
from devflow.monitoring import queries
from devflow.monitoring.models import ServerSample
from devflow.servers.models import Server

DEFAULT_RANGE = "1h"
# Series columns that are fractional; the others are bytes (integers).
FLOATS = {"cpu_percent", "load1", "net_rx_bps", "net_tx_bps", "disk_read_bps", "disk_write_bps"}


def _column(kind: type[serializers.Field]) -> serializers.ListField:
    return serializers.ListField(child=kind(allow_null=True))


SeriesSerializer = inline_serializer(
    "MetricsSeries",
    {
        "at": serializers.ListField(
            child=serializers.IntegerField(), help_text="Epoch seconds of each point."
        ),
        **{name: _column(serializers.FloatField) for name in queries.FIELDS if name in FLOATS},
        **{name: _column(serializers.IntegerField) for name in queries.FIELDS
           if name not in FLOATS},
        "range": serializers.ChoiceField(choices=list(queries.RANGES)),
        "resolution": serializers.CharField(help_text="raw, 1m, 10m or 1h."),
    },
)  # fmt: skip


class SampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServerSample
        fields = ["at", *queries.FIELDS, "mounts"]
        read_only_fields = fields


class LatestSerializer(serializers.Serializer):
    """A server of yours and its newest sample of the last ten minutes (null: none)."""

    server = serializers.IntegerField(source="pk", read_only=True)
    server_name = serializers.CharField(source="name", read_only=True)
    team = serializers.IntegerField(source="team_id", read_only=True)
    sample = serializers.SerializerMethodField()

    @extend_schema_field(SampleSerializer(allow_null=True))
    def get_sample(self, server: Server) -> dict[str, Any] | None:
        sample = self.context["latest"].get(server.pk)
        return SampleSerializer(sample).data if sample is not None else None


class MetricsViewSet(mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Server metrics: `/metrics/{server_id}/?range=…` and `/metrics/latest/`."""

    queryset = Server.objects.all()
    serializer_class = LatestSerializer
    lookup_url_kwarg = "server_id"
    lookup_value_regex = r"\d+"
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_fields = ["team"]
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "range", str, enum=list(queries.RANGES), default=DEFAULT_RANGE,
                description="How far back: 1h (raw samples), 6h, 24h, 7d, 30d (roll-ups).",
            ),
        ],
        responses={200: SeriesSerializer},
    )  # fmt: skip
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The chart columns of one server over a range, as the server's page draws them."""
        server = self.get_object()
        key = request.query_params.get("range", DEFAULT_RANGE)
        if key not in queries.RANGES:
            raise exceptions.ValidationError(
                {"range": [f"range must be one of {', '.join(queries.RANGES)}"]}
            )
        return Response(queries.series(server, key))

    @extend_schema(responses={200: LatestSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def latest(self, request: Request) -> Response:
        """The newest sample of each of your servers (seen in the last ten minutes)."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        servers = list(page) if page is not None else []
        newest = queries.latest([server.pk for server in servers])
        rows = LatestSerializer(servers, many=True, context={"latest": newest})
        return self.get_paginated_response(rows.data)
