"""Servers, their SSH keys, tags, groups and ping history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from devflow.core.fields import EncryptedTextField
from devflow.core.tenancy import TeamOwnedModel, TeamScopedQuerySet
from devflow.servers.choices import STATUS_COLOURS, KeyAlgorithm, ServerStatus


class SshKey(TeamOwnedModel):
    """A key pair DevFlow Pro logs in with; the private half is encrypted at rest."""

    name = models.CharField(max_length=100)
    algorithm = models.CharField(max_length=40, choices=KeyAlgorithm.choices)
    private_key = EncryptedTextField()
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=100)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("team", Lower("name"), name="sshkey_team_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Tag(TeamOwnedModel):
    """A coloured label; a server may have many."""

    name = models.CharField(max_length=40)
    colour = models.CharField(max_length=7, default="#2457d6")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint("team", Lower("name"), name="tag_team_name_unique")]

    def __str__(self) -> str:
        return self.name


class ServerGroup(TeamOwnedModel):
    """A named set of servers (e.g. "production"); a server is in at most one."""

    name = models.CharField(max_length=60)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("team", Lower("name"), name="servergroup_team_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ServerQuerySet(TeamScopedQuerySet["Server"]):
    def with_relations(self) -> ServerQuerySet:
        return self.select_related("group", "ssh_key").prefetch_related("tags")


class Server(TeamOwnedModel):
    """A machine DevFlow Pro manages, over SSH or (the machine it runs on) locally."""

    name = models.CharField(max_length=100)
    is_local = models.BooleanField(default=False, help_text="The machine DevFlow Pro runs on.")
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=32, default="root")
    ssh_key = models.ForeignKey(
        SshKey, null=True, blank=True, on_delete=models.PROTECT, related_name="servers"
    )
    sudo_password = EncryptedTextField(blank=True, default="")
    host_key = models.TextField(blank=True, help_text="Pinned on first contact.")
    host_key_fingerprint = models.CharField(max_length=100, blank=True)
    host_key_trusted_at = models.DateTimeField(null=True, blank=True)
    group = models.ForeignKey(
        ServerGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="servers"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="servers")
    status = models.CharField(
        max_length=10, choices=ServerStatus.choices, default=ServerStatus.UNKNOWN, db_index=True
    )
    status_message = models.CharField(max_length=500, blank=True)
    failure_reason = models.CharField(max_length=30, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    facts_at = models.DateTimeField(null=True, blank=True)
    ping_enabled = models.BooleanField(default=True)
    ping_interval_seconds = models.PositiveIntegerField(default=60)
    next_ping_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ServerQuerySet.as_manager()  # type: ignore[misc]  # narrows the base's manager

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("team", Lower("name"), name="server_team_name_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_ping_at"],
                name="server_ping_due",
                condition=models.Q(ping_enabled=True),
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        if self.is_local:
            return "this machine"
        return f"{self.username}@{self.host}" + (f":{self.port}" if self.port != 22 else "")

    @property
    def status_colour(self) -> str:
        return STATUS_COLOURS[ServerStatus(self.status)]

    @property
    def host_key_changed(self) -> bool:
        return self.failure_reason == "host_key_changed"


class PingResult(models.Model):
    """One reachability check of a server, kept as history."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="pings")
    at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["server", "-at"], name="ping_server_at")]

    def __str__(self) -> str:
        return f"{self.server_id} {'up' if self.ok else 'down'} at {self.at}"


class BulkRun(TeamOwnedModel):
    """One bulk action over many servers; its job runs them in parallel."""

    action = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    job = models.OneToOneField(
        "core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="bulk_run"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Bulk {self.action} #{self.pk}"


class BulkResultStatus(models.TextChoices):
    PENDING = "pending", "Waiting"  # not started yet (concurrency limit)
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # the command failed, or the server could not be reached
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


BULK_COLOURS = {
    BulkResultStatus.PENDING: "grey",
    BulkResultStatus.RUNNING: "blue",
    BulkResultStatus.SUCCEEDED: "green",
    BulkResultStatus.FAILED: "red",
    BulkResultStatus.TIMED_OUT: "amber",
    BulkResultStatus.CANCELLED: "amber",
}


class BulkResult(models.Model):
    """What one server of a bulk run did."""

    run = models.ForeignKey(BulkRun, on_delete=models.CASCADE, related_name="results")
    server = models.ForeignKey(Server, null=True, on_delete=models.SET_NULL, related_name="+")
    server_name = models.CharField(max_length=100)
    status = models.CharField(
        max_length=10, choices=BulkResultStatus.choices, default=BulkResultStatus.PENDING
    )
    exit_status = models.IntegerField(null=True, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["server_name", "id"]

    def __str__(self) -> str:
        return f"{self.server_name}: {self.status}"

    @property
    def status_colour(self) -> str:
        return BULK_COLOURS[BulkResultStatus(self.status)]


class KeyInstallation(models.Model):
    """A key DevFlow Pro put in a server's authorized_keys (so it can take it out again)."""

    ssh_key = models.ForeignKey(SshKey, on_delete=models.CASCADE, related_name="installations")
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="key_installations")
    installed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ssh_key", "server"], name="keyinstall_key_server")
        ]

    def __str__(self) -> str:
        return f"{self.ssh_key} on {self.server}"
