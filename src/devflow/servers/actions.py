"""Quick actions: what each one runs, per OS family. Commands only, no user text glued in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devflow.accounts.choices import Action
from devflow.transport.commands import Command

NONINTERACTIVE = ("env", "DEBIAN_FRONTEND=noninteractive")


@dataclass(frozen=True)
class QuickAction:
    name: str
    label: str
    steps: Callable[[str, dict[str, str]], list[Command]]
    destructive: bool = False
    needs: tuple[str, ...] = ()  # parameters the user supplies (validated by services)
    # Deployers look after running servers; changing what is installed is a maintainer's call
    # (the same as the bulk action of the same name).
    needs_role: str = Action.DEPLOY
    timeout_seconds: int = 600


class UnsupportedSystem(ValueError):
    """No commands for this OS family."""


def _by_family(table: dict[str, list[Command]], family: str, what: str) -> list[Command]:
    if family not in table:
        raise UnsupportedSystem(
            f"Cannot {what} on this system (family {family!r}); supported: "
            + ", ".join(sorted(table))
            + ". Gather facts first if the family is unknown."
        )
    return table[family]


def disk_usage(family: str, params: dict[str, str]) -> list[Command]:
    return [
        Command.of("df", "-hP", "-x", "tmpfs", "-x", "devtmpfs", label="df -hP"),
        Command.script(
            "du -xsh /var/log /var/lib/docker /var/cache /home /tmp 2>/dev/null; exit 0",
            sudo=True,
            label="largest folders",
        ),
    ]


def restart_service(family: str, params: dict[str, str]) -> list[Command]:
    unit = params["service"]
    return [
        Command.of("systemctl", "restart", "--", unit, sudo=True),
        Command.of("systemctl", "is-active", "--", unit),
    ]


def clear_package_cache(family: str, params: dict[str, str]) -> list[Command]:
    return _by_family(
        {
            "debian": [Command.of("apt-get", "clean", sudo=True)],
            "rhel": [Command.of("dnf", "clean", "all", sudo=True)],
            "alpine": [
                Command.script(
                    "apk cache clean 2>/dev/null || rm -rf /var/cache/apk/*",
                    sudo=True,
                    label="apk cache clean",
                )
            ],
        },
        family,
        "clear package caches",
    )


def update_packages(family: str, params: dict[str, str]) -> list[Command]:
    return _by_family(
        {
            "debian": [
                Command.of(*NONINTERACTIVE, "apt-get", "update", sudo=True),
                Command.of(
                    *NONINTERACTIVE,
                    "apt-get",
                    "-y",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                    "upgrade",
                    sudo=True,
                ),
            ],
            "rhel": [Command.of("dnf", "-y", "upgrade", sudo=True)],
            "alpine": [
                Command.of("apk", "update", sudo=True),
                Command.of("apk", "upgrade", sudo=True),
            ],
        },
        family,
        "update packages",
    )


def install_docker(family: str, params: dict[str, str]) -> list[Command]:
    return _by_family(
        {
            "debian": [
                Command.of(*NONINTERACTIVE, "apt-get", "update", sudo=True),
                Command.of(*NONINTERACTIVE, "apt-get", "install", "-y", "docker.io", sudo=True),
                Command.of("systemctl", "enable", "--now", "docker", sudo=True),
            ],
            "rhel": [
                Command.of("dnf", "-y", "install", "dnf-plugins-core", sudo=True),
                Command.of(
                    "dnf",
                    "config-manager",
                    "--add-repo",
                    "https://download.docker.com/linux/centos/docker-ce.repo",
                    sudo=True,
                ),
                Command.of(
                    "dnf", "-y", "install", "docker-ce", "docker-ce-cli", "containerd.io", sudo=True
                ),
                Command.of("systemctl", "enable", "--now", "docker", sudo=True),
            ],
            "alpine": [
                Command.of("apk", "add", "docker", sudo=True),
                Command.of("rc-update", "add", "docker", "default", sudo=True),
                Command.of("service", "docker", "start", sudo=True),
            ],
        },
        family,
        "install Docker",
    )


def reboot(family: str, params: dict[str, str]) -> list[Command]:
    # Detached, so the command returns before the connection drops.
    return [
        Command.script(
            "nohup sh -c 'sleep 2; reboot' >/dev/null 2>&1 &", sudo=True, label="reboot in 2 s"
        )
    ]


QUICK_ACTIONS: dict[str, QuickAction] = {
    action.name: action
    for action in [
        QuickAction("disk_usage", "Disk usage", disk_usage, timeout_seconds=120),
        QuickAction(
            "restart_service",
            "Restart a service",
            restart_service,
            needs=("service",),
            timeout_seconds=180,
        ),
        QuickAction("clear_package_cache", "Clear package caches", clear_package_cache),
        QuickAction(
            "update_packages",
            "Update packages",
            update_packages,
            needs_role=Action.EDIT,
            timeout_seconds=3600,
        ),
        QuickAction(
            "install_docker",
            "Install Docker",
            install_docker,
            needs_role=Action.EDIT,
            timeout_seconds=1800,
        ),
        QuickAction("reboot", "Reboot", reboot, destructive=True, timeout_seconds=600),
    ]
}
