"""OpenAPI examples for the accounts app's components (see devflow.api.examples)."""

from __future__ import annotations

from typing import Any

# alice (user 1) owns the team Acme (team 1); bob (membership 2) deploys in it.
TEAM = {"id": 1, "name": "Acme", "role": "owner", "allow_private_egress": False}

# A token as the API shows it after the POST: its first 12 characters, never the rest.
TOKEN = {
    "id": 7,
    "name": "CI deploys",
    "prefix": "dfp_Xk3vQ9mZ",
    "scopes": ["read", "deploy"],
    "expires_at": "2027-05-26T00:00:00Z",
    "created_at": "2026-11-26T09:12:44Z",
    "last_used_at": "2026-11-26T09:30:00Z",
    "revoked_at": None,
    "revoked_reason": "",
}

EXAMPLES: dict[str, Any] = {
    "Me": {
        "id": 1,
        "username": "alice",
        "email": "alice@example.com",
        "teams": [TEAM],
        "token": TOKEN,
        "server_time": "2026-11-26T09:30:00.412871+00:00",
    },
    "Team": TEAM,
    "NewTeamRequest": {"name": "Acme"},
    "Member": {
        "id": 2,
        "username": "bob",
        "email": "bob@example.com",
        "role": "deployer",
        "created_at": "2026-03-02T14:05:10Z",
    },
    "PatchedRoleRequest": {"role": "deployer"},
    # InvitationRequest is derived: the e-mail address and the role.
    "Invitation": {
        "id": 12,
        "email": "carol@example.com",
        "role": "deployer",
        "expires_at": "2026-12-03T09:30:00Z",
    },
    "Token": TOKEN,
    "NewTokenRequest": {
        "name": "CI deploys",
        "scopes": ["read", "deploy"],
        "expires_at": "2027-05-26T00:00:00Z",
    },
    # The whole token, shown this once: an example, not a working one.
    "NewToken": {
        "token": "dfp_Xk3vQ9mZ-example-token-shown-only-once-here",
        "details": {**TOKEN, "last_used_at": None},
    },
}
