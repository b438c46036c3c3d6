from __future__ import annotations

from tests.servers.conftest import client_key, make_server  # noqa: F401  (fixtures)
