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


# Health checks ----------------------------------------------------------------------


class CheckKind(models.TextChoices):
    HTTP = "http", "HTTP(S)"
    TCP = "tcp", "TCP port"


class CheckStatus(models.TextChoices):
    PENDING = "pending", "Not checked yet"
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"


class HealthCheck(TeamOwnedModel):
    """An HTTP(S) request or a TCP connection made every `interval_seconds`.

    A failure is retried at once; only a failed retry makes the check down (and counts
    against uptime), so one lost packet does not page anyone.
    """

    name = models.CharField(max_length=100)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="health_checks",
    )
    kind = models.CharField(max_length=4, choices=CheckKind.choices, default=CheckKind.HTTP)
    url = models.CharField(max_length=2000, blank=True, help_text="HTTP(S) checks.")
    method = models.CharField(max_length=7, default="GET")
    expected_status = models.PositiveSmallIntegerField(default=200)
    keyword = models.CharField(max_length=200, blank=True, help_text="Must appear in the body.")
    host = models.CharField(max_length=253, blank=True, help_text="TCP checks.")
    port = models.PositiveIntegerField(null=True, blank=True, help_text="TCP checks.")
    timeout_seconds = models.PositiveSmallIntegerField(default=10)
    interval_seconds = models.PositiveIntegerField(default=60)
    degraded_ms = models.PositiveIntegerField(
        default=2000, help_text="Slower answers than this count as degraded."
    )
    tls_warn_days = models.PositiveSmallIntegerField(
        default=14, help_text="A certificate expiring sooner counts as degraded."
    )
    enabled = models.BooleanField(default=True)
    status = models.CharField(
        max_length=10, choices=CheckStatus.choices, default=CheckStatus.PENDING
    )
    status_since = models.DateTimeField(null=True, blank=True)
    confirming = models.BooleanField(default=False, help_text="Failed once; the retry decides.")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    tls_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def target(self) -> str:
        return self.url if self.kind == CheckKind.HTTP else f"{self.host}:{self.port}"


class CheckOutcome(models.TextChoices):
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"
    UNCONFIRMED = "unconfirmed", "Failed, retrying"


class HealthResult(models.Model):
    """One run of a check. Unconfirmed failures are kept for the record, not for uptime."""

    health_check = models.ForeignKey(HealthCheck, on_delete=models.CASCADE, related_name="results")
    at = models.DateTimeField()
    outcome = models.CharField(max_length=11, choices=CheckOutcome.choices)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["health_check", "at"]
        indexes = [models.Index(fields=["health_check", "at"], name="healthresult_check_at")]

    def __str__(self) -> str:
        return f"{self.health_check_id} @ {self.at:%Y-%m-%d %H:%M:%S}: {self.outcome}"


# Alerts ------------------------------------------------------------------------------


class AlertMetric(models.TextChoices):
    CPU = "cpu", "CPU %"
    RAM = "ram", "Memory used %"
    DISK = "disk", "Disk used % (fullest mount)"
    LOAD = "load", "Load average (1 min)"
    NETWORK = "network", "Network in + out (Mbit/s)"
    HEALTH = "health", "Reachable (1 = up, 0 = down)"


class AlertOperator(models.TextChoices):
    GT = ">", ">"
    GTE = ">=", "≥"
    LT = "<", "<"
    LTE = "<=", "≤"
    EQ = "=", "="


class AlertScope(models.TextChoices):
    ALL = "all", "All servers"
    SERVER = "server", "One server"
    GROUP = "group", "A server group"
    TAG = "tag", "Servers with a tag"


class AlertRule(TeamOwnedModel):
    """`metric operator threshold` held for `duration_minutes` on a server in scope → an alert."""

    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    scope = models.CharField(max_length=6, choices=AlertScope.choices, default=AlertScope.ALL)
    server = models.ForeignKey(
        "servers.Server", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey(
        "servers.ServerGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tag = models.ForeignKey(
        "servers.Tag", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    metric = models.CharField(max_length=8, choices=AlertMetric.choices)
    operator = models.CharField(max_length=2, choices=AlertOperator.choices, default=">")
    threshold = models.FloatField()
    duration_minutes = models.PositiveIntegerField(default=5)
    hysteresis = models.FloatField(
        null=True, blank=True, help_text="How far back past the threshold before it resolves."
    )
    channels = models.ManyToManyField(
        "notifications.Channel", blank=True, related_name="alert_rules"
    )
    escalate_after_minutes = models.PositiveIntegerField(null=True, blank=True)
    escalation_channels = models.ManyToManyField(
        "notifications.Channel", blank=True, related_name="escalation_rules"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class AlertState(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(TeamOwnedModel):
    """One episode of a rule's condition on one server, from trigger to resolution."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    server = models.ForeignKey("servers.Server", on_delete=models.CASCADE, related_name="alerts")
    state = models.CharField(
        max_length=12, choices=AlertState.choices, default=AlertState.TRIGGERED
    )
    value = models.FloatField(help_text="The value that triggered it.")
    last_value = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    triggered_at = models.DateTimeField(db_index=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when it resolved itself.",
    )

    class Meta:
        ordering = ["-triggered_at", "-id"]
        constraints = [
            # One open episode per rule and server: a second trigger is the same alert.
            models.UniqueConstraint(
                fields=["rule", "server"],
                condition=~models.Q(state="resolved"),
                name="alert_one_open_per_rule_server",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} on {self.server_id} ({self.state})"
