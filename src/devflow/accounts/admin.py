from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from devflow.accounts.models import Invitation, Membership, Team, User


@admin.register(User)
class DevflowUserAdmin(UserAdmin):
    list_display = ("username", "email", "is_superuser", "totp_enabled", "last_login")
    # The TOTP secret is never shown; only whether two-factor is on.
    readonly_fields = ("totp_enabled",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "personal", "created_at")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "team", "role")
    list_filter = ("role",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "team", "role", "created_at", "expires_at", "accepted_at")
    exclude = ("token_hash",)
