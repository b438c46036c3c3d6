"""API: who am I (and my token's scopes), teams and their members, my API tokens."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts import api_tokens
from devflow.accounts import services as account_services
from devflow.accounts.choices import Action, Role
from devflow.accounts.models import ApiToken, Membership, Team, TokenScope
from devflow.api.authentication import token_of
from devflow.api.errors import refused
from devflow.api.schema import OneObjectSchema, ProblemAutoSchema
from devflow.api.serializers import StrictModelSerializer, StrictSerializer
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core.access import me


class MemberSerializer(StrictModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = fields


class TeamSerializer(StrictModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "role", "allow_private_egress"]
        read_only_fields = fields

    def get_role(self, team: Team) -> str | None:
        user = self.context["request"].user
        roles = {m.user_id: m.role for m in team.memberships.all()}
        return roles.get(user.pk)


class NewTeamSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)


class InvitationSerializer(StrictSerializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


# The answer to an invitation: the link itself goes by e-mail, never into the answer.
SentInvitationSerializer = inline_serializer(
    "Invitation",
    {
        "id": serializers.IntegerField(),
        "email": serializers.EmailField(),
        "role": serializers.ChoiceField(choices=Role.choices),
        "expires_at": serializers.DateTimeField(help_text="The link works once, until then."),
    },
)


class RoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """The teams you belong to, with your role in each; members, invitations, roles."""

    queryset = Team.objects.prefetch_related("memberships").order_by("name")
    serializer_class = TeamSerializer

    @extend_schema(request=NewTeamSerializer, responses={201: TeamSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A new team, with you as its owner."""
        data = NewTeamSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            team = account_services.create_team(
                me(request), data.validated_data["name"], request=request._request
            )
        except account_services.AccountError as error:
            raise refused(error) from None
        team = Team.objects.prefetch_related("memberships").get(pk=team.pk)
        return Response(TeamSerializer(team, context={"request": request}).data, status=201)

    @extend_schema(responses={200: MemberSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)  # all of them, not a page
    def members(self, request: Request, pk: Any = None) -> Response:
        """The team's members and their roles (all of them, not a page)."""
        team = self.get_object()
        members = Membership.objects.filter(team=team).select_related("user")
        return Response(MemberSerializer(members, many=True, context={"request": request}).data)

    @extend_schema(request=InvitationSerializer, responses={201: SentInvitationSerializer})
    @action(detail=True, methods=["post"], required_action=Action.EDIT)
    def invitations(self, request: Request, pk: Any = None) -> Response:
        """Invite someone by e-mail (the link goes to them, not into this answer)."""
        team = self.get_object()
        data = InvitationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            invitation, _ = account_services.invite(
                me(request), team, data.validated_data["email"], data.validated_data["role"],
                request=request._request,
            )  # fmt: skip
        except account_services.AccountError as error:
            raise refused(error) from None
        return Response(
            {"id": invitation.pk, "email": invitation.email, "role": invitation.role,
             "expires_at": invitation.expires_at},
            status=201,
        )  # fmt: skip

    @extend_schema(
        methods=["PATCH"],
        summary="Change a member's role",
        request=RoleSerializer,
        responses={200: MemberSerializer},
    )
    @extend_schema(
        methods=["DELETE"], summary="Remove a member", request=None, responses={204: None}
    )  # fmt: skip
    @action(
        detail=True, methods=["patch", "delete"], url_path=r"members/(?P<member_id>\d+)",
        required_action=Action.ADMINISTER,
    )  # fmt: skip
    def member(self, request: Request, pk: Any = None, member_id: str = "") -> Response:
        """Change a member's role (PATCH) or remove them (DELETE); owners only."""
        team = self.get_object()
        membership = Membership.objects.filter(team=team, pk=member_id).select_related("user")
        found = membership.first()
        if found is None:
            raise exceptions.NotFound()
        try:
            if request.method == "DELETE":
                account_services.remove_member(me(request), found, request=request._request)
                return Response(status=204)
            data = RoleSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            account_services.change_role(
                me(request), found, data.validated_data["role"], request=request._request
            )
        except account_services.AccountError as error:
            raise refused(error) from None
        return Response(MemberSerializer(found, context={"request": request}).data)


class TokenSerializer(StrictModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scopes", "expires_at", "created_at",
                  "last_used_at", "revoked_at", "revoked_reason"]  # fmt: skip
        read_only_fields = fields


class NewTokenSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenScope.values), allow_empty=False
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class TokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Your own API tokens. A token is shown once, in the answer to the POST that made it."""

    serializer_class = TokenSerializer
    permission_classes = [IsAuthenticated]
    schema = ProblemAutoSchema()
    queryset = ApiToken.objects.none()  # the schema's model; requests read get_queryset()

    def get_queryset(self) -> Any:
        return ApiToken.objects.filter(user=me(self.request))

    def _check_admin_scope(self) -> None:
        token = token_of(self.request)
        if token is not None and not token.has_scope(TokenScope.ADMIN):
            raise exceptions.PermissionDenied("Managing tokens needs a token with the admin scope.")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._check_admin_scope()
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=NewTokenSerializer,
        responses={201: inline_serializer("NewToken", {"token": serializers.CharField(),
                                                       "details": TokenSerializer()})},
    )  # fmt: skip
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._check_admin_scope()
        data = NewTokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            made = api_tokens.create(
                me(request), data.validated_data["name"], data.validated_data["scopes"],
                expires_at=data.validated_data.get("expires_at"), request=request._request,
            )  # fmt: skip
        except api_tokens.TokenError as error:
            raise refused(error) from None
        return Response(
            {"token": made.token, "details": TokenSerializer(made.row).data},
            status=status.HTTP_201_CREATED,
        )

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._check_admin_scope()
        row = self.get_object()
        api_tokens.revoke(me(request), row, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(viewsets.ViewSet):
    permission_classes = [IsAuthenticated]
    schema = OneObjectSchema()  # `list` answers one object: you

    @extend_schema(
        responses={200: inline_serializer("Me", {
            "id": serializers.IntegerField(), "username": serializers.CharField(),
            "email": serializers.EmailField(), "teams": TeamSerializer(many=True),
            "token": TokenSerializer(allow_null=True), "server_time": serializers.DateTimeField(),
        })},
    )  # fmt: skip
    def list(self, request: Request) -> Response:
        """Who the request is from, their teams, and the token's scopes (null: the session)."""
        user = request.user
        teams = Team.objects.for_user(user).prefetch_related("memberships").order_by("name")
        token = token_of(request)
        return Response(
            {
                "id": user.pk,
                "username": user.get_username(),
                "email": getattr(user, "email", ""),
                "teams": TeamSerializer(teams, many=True, context={"request": request}).data,
                "token": TokenSerializer(token).data if token else None,
                "server_time": timezone.now().isoformat(),
            }
        )


def register(router: BaseRouter) -> None:
    router.register("me", MeView, basename="me")
    router.register("teams", TeamViewSet, basename="team")
    router.register("tokens", TokenViewSet, basename="token")
