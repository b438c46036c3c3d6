"""Server metrics: raw samples (kept 48 h) and 1-minute, 10-minute and 1-hour roll-ups.

Also the tokens a Prometheus server scrapes `/metrics` with.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from devflow.core.tenancy import TeamOwnedModel


class ServerSample(models.Model):
    """One collection from one server. Rates are over the time since the previous sample."""

    server = models.ForeignKey("servers.Server", on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    cpu_percent = models.FloatField(null=True, blank=True)
    mem_used = models.BigIntegerField()
    mem_total = models.BigIntegerField()
    swap_used = models.BigIntegerField()
    swap_total = models.BigIntegerField()
    load1 = models.FloatField()
    load5 = models.FloatField()
    load15 = models.FloatField()
    net_rx_bps = models.FloatField(null=True, blank=True)
    net_tx_bps = models.FloatField(null=True, blank=True)
    disk_read_bps = models.FloatField(null=True, blank=True)
    disk_write_bps = models.FloatField(null=True, blank=True)
    disk_used = models.BigIntegerField(help_text="Summed over the mounts below.")
    disk_total = models.BigIntegerField()
    mounts = models.JSONField(default=list, help_text='[{"mount", "used", "total"}]')
    counters = models.JSONField(default=dict, help_text="Raw counters for the next deltas.")

    class Meta:
        ordering = ["server", "at"]
        indexes = [models.Index(fields=["server", "at"], name="sample_server_at")]

    def __str__(self) -> str:
        return f"{self.server_id} @ {self.at:%Y-%m-%d %H:%M:%S}"


class Resolution(models.TextChoices):
    MINUTE = "1m", "1 minute"
    TEN_MINUTES = "10m", "10 minutes"
    HOUR = "1h", "1 hour"


class ServerRollup(models.Model):
    """Averages (and peaks) of a server's samples over one minute or one hour."""

    server = models.ForeignKey("servers.Server", on_delete=models.CASCADE, related_name="rollups")
    resolution = models.CharField(max_length=3, choices=Resolution.choices)
    bucket = models.DateTimeField(help_text="Start of the minute or hour.")
    samples = models.PositiveIntegerField()
    cpu_percent = models.FloatField(null=True, blank=True)
    cpu_percent_max = models.FloatField(null=True, blank=True)
    mem_used = models.BigIntegerField()
    mem_total = models.BigIntegerField()
    swap_used = models.BigIntegerField()
    load1 = models.FloatField()
    net_rx_bps = models.FloatField(null=True, blank=True)
    net_tx_bps = models.FloatField(null=True, blank=True)
    disk_read_bps = models.FloatField(null=True, blank=True)
    disk_write_bps = models.FloatField(null=True, blank=True)
    disk_used = models.BigIntegerField()
    disk_total = models.BigIntegerField()

    class Meta:
        ordering = ["server", "resolution", "bucket"]
        constraints = [
            models.UniqueConstraint(
                fields=["server", "resolution", "bucket"], name="rollup_server_resolution_bucket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.server_id} {self.resolution} @ {self.bucket:%Y-%m-%d %H:%M}"


class MetricsToken(TeamOwnedModel):
    """A bearer token that lets a Prometheus server read its team's latest metrics at /metrics.

    Only the SHA-256 of the token is stored; the token itself is shown once, when made.
    `prefix` (the first characters) tells tokens apart on the page and finds the row.
    """

    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256, hex.")
    prefix = models.CharField(max_length=16, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set: refused from then on.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
