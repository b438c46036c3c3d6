from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from devflow.core.models import ActivityLog, Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "team", "trigger", "created_at", "finished_at")
    list_filter = ("status", "kind", "trigger")
    readonly_fields = [f.name for f in Job._meta.fields]


@admin.register(ActivityLog)
class ActivityLogAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_label", "action", "target_label", "source", "result")
    list_filter = ("source", "result")
    readonly_fields = [f.name for f in ActivityLog._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
