from __future__ import annotations

import pytest

from devflow.servers import keys
from devflow.servers.models import Server, SshKey


@pytest.fixture
def client_key(acme, alice, shared_sshd) -> SshKey:  # type: ignore[no-untyped-def]
    """The key the test sshd servers accept, imported into Acme."""
    return keys.import_key(alice, acme, "deploy key", shared_sshd.client_key.read_text())


@pytest.fixture
def make_server(acme, alice, client_key):  # type: ignore[no-untyped-def]
    def make(sshd, name: str = "web-1", **fields) -> Server:  # type: ignore[no-untyped-def]
        return Server.objects.create(
            team=acme,
            name=name,
            host=sshd.host,
            port=sshd.port,
            username=sshd.username,
            ssh_key=client_key,
            created_by=alice,
            **fields,
        )

    return make
