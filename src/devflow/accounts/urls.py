from __future__ import annotations

from django.urls import path

from devflow.accounts import token_views, views

app_name = "accounts"

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("login/", views.login_view, name="login"),
    path("login/2fa/", views.login_2fa, name="login_2fa"),
    path("logout/", views.logout_view, name="logout"),
    path("signup/", views.signup, name="signup"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("profile/", views.profile, name="profile"),
    path("profile/2fa/", views.two_factor_setup, name="two_factor_setup"),
    path("profile/2fa/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("profile/2fa/recovery-codes/", views.recovery_codes_regenerate, name="recovery_codes"),
    path("profile/tokens/", token_views.token_list, name="api_tokens"),
    path(
        "profile/tokens/<int:token_id>/revoke/", token_views.token_revoke, name="api_token_revoke"
    ),
    path("teams/", views.team_list, name="teams"),
    path("teams/<int:team_id>/", views.team_detail, name="team_detail"),
    path("teams/<int:team_id>/switch/", views.team_switch, name="team_switch"),
    path(
        "teams/<int:team_id>/private-egress/",
        views.team_private_egress,
        name="team_private_egress",
    ),
    path(
        "teams/<int:team_id>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "teams/<int:team_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "teams/<int:team_id>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
]
