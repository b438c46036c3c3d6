"""Which commands each quick action runs, per OS family (only Debian runs for real here)."""

from __future__ import annotations

import pytest

from devflow.servers.actions import QUICK_ACTIONS, UnsupportedSystem
from devflow.servers.services import os_family, parse_facts


@pytest.mark.parametrize(
    ("os_release", "family"),
    [
        ("os_id=debian\nos_like=", "debian"),
        ("os_id=ubuntu\nos_like=debian", "debian"),
        ("os_id=rocky\nos_like=rhel centos fedora", "rhel"),
        ("os_id=almalinux\nos_like=rhel centos fedora", "rhel"),
        ("os_id=alpine\nos_like=", "alpine"),
        ("os_id=arch\nos_like=", "unknown"),
    ],
)
def test_the_os_family_comes_from_os_release(os_release, family):
    assert os_family(parse_facts(os_release)) == family


@pytest.mark.parametrize(
    ("family", "first_program"),
    [
        ("debian", ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]),
        ("rhel", ["dnf"]),
        ("alpine", ["apk"]),
    ],
)
def test_install_docker_uses_the_familys_package_manager_with_sudo(family, first_program):
    steps = QUICK_ACTIONS["install_docker"].steps(family, {})
    assert list(steps[0].argv[: len(first_program)]) == first_program
    assert all(step.sudo for step in steps)


def test_an_unknown_family_is_refused_with_the_supported_ones():
    with pytest.raises(UnsupportedSystem, match="supported: alpine, debian, rhel"):
        QUICK_ACTIONS["update_packages"].steps("unknown", {})


def test_the_service_name_is_one_argument_after_a_double_dash():
    steps = QUICK_ACTIONS["restart_service"].steps("debian", {"service": "-evil"})
    assert steps[0].argv == ("systemctl", "restart", "--", "-evil")
