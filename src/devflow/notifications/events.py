"""The events a channel can subscribe to. Other apps add theirs with `register`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventKind:
    name: str
    label: str
    group: str


EVENTS: dict[str, EventKind] = {}


def register(name: str, label: str, group: str) -> EventKind:
    kind = EventKind(name, label, group)
    EVENTS[name] = kind
    return kind


DEPLOYMENT_SUCCEEDED = register("deployment.succeeded", "Deployment succeeded", "Deployments")
DEPLOYMENT_FAILED = register("deployment.failed", "Deployment failed", "Deployments")
DEPLOYMENT_ROLLED_BACK = register("deployment.rolled_back", "Rolled back", "Deployments")
DEPLOYMENT_REMINDER = register(
    "deployment.reminder", "Scheduled deployment reminder", "Deployments"
)
SERVER_DOWN = register("server.down", "Server down", "Servers")
SERVER_UP = register("server.up", "Server back up", "Servers")
ALERT_TRIGGERED = register("alert.triggered", "Alert triggered", "Alerts")
ALERT_ESCALATED = register("alert.escalated", "Alert escalated", "Alerts")
ALERT_RESOLVED = register("alert.resolved", "Alert resolved", "Alerts")
HEALTH_DOWN = register("health.down", "Health check down", "Health checks")
HEALTH_UP = register("health.up", "Health check back up", "Health checks")

# What a new channel receives unless the user picks otherwise: everything that needs a human.
DEFAULT_EVENTS = [
    DEPLOYMENT_FAILED.name,
    SERVER_DOWN.name,
    SERVER_UP.name,
    ALERT_TRIGGERED.name,
    ALERT_ESCALATED.name,
    ALERT_RESOLVED.name,
    HEALTH_DOWN.name,
    HEALTH_UP.name,
]


def grouped() -> dict[str, list[EventKind]]:
    groups: dict[str, list[EventKind]] = {}
    for kind in EVENTS.values():
        groups.setdefault(kind.group, []).append(kind)
    return groups
