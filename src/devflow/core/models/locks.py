"""Per-target locks with a lease, so one deployment per project runs at a time."""

from __future__ import annotations

from django.db import models


class Lock(models.Model):
    """A held lock on a target key; it is free once released or once its lease expires."""

    key = models.CharField(max_length=200, unique=True)
    holder_job = models.ForeignKey(
        "core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="locks"
    )
    holder = models.CharField(max_length=200, blank=True)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key} held by {self.holder}"
