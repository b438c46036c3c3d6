"""Tags and groups: team-scoped labels for finding and acting on servers together."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from devflow.core import audit
from devflow.servers.models import Server, ServerGroup, Tag
from devflow.servers.services import ServerError, validate_colour


def create_tag(
    actor: Any, team: Any, name: str, colour: str, *, request: HttpRequest | None = None
) -> Tag:
    name = name.strip()
    if not name:
        raise ServerError("A tag needs a name.")
    try:
        with transaction.atomic():
            tag = Tag.objects.create(team=team, name=name, colour=validate_colour(colour))
    except IntegrityError:
        raise ServerError(f"There is already a tag named {name!r}.") from None
    audit.record("tag.created", actor=actor, team=team, target=tag, request=request)
    return tag


def update_tag(
    actor: Any, tag: Tag, name: str, colour: str, *, request: HttpRequest | None = None
) -> Tag:
    """Rename or recolour a tag (names are unique per team, case-insensitively)."""
    name = name.strip()
    if not name:
        raise ServerError("A tag needs a name.")
    tag.name, tag.colour = name, validate_colour(colour)
    try:
        with transaction.atomic():
            tag.save(update_fields=["name", "colour"])
    except IntegrityError:
        raise ServerError(f"There is already a tag named {name!r}.") from None
    audit.record("tag.updated", actor=actor, team=tag.team, target=tag, request=request)
    return tag


def delete_tag(actor: Any, tag: Tag, *, request: HttpRequest | None = None) -> None:
    audit.record("tag.deleted", actor=actor, team=tag.team, target=tag, request=request)
    tag.delete()


def create_group(
    actor: Any, team: Any, name: str, description: str = "", *, request: HttpRequest | None = None
) -> ServerGroup:
    name = name.strip()
    if not name:
        raise ServerError("A group needs a name.")
    try:
        with transaction.atomic():
            group = ServerGroup.objects.create(
                team=team, name=name, description=description.strip()
            )
    except IntegrityError:
        raise ServerError(f"There is already a group named {name!r}.") from None
    audit.record("group.created", actor=actor, team=team, target=group, request=request)
    return group


def update_group(
    actor: Any,
    group: ServerGroup,
    name: str,
    description: str,
    *,
    request: HttpRequest | None = None,
) -> ServerGroup:
    """Rename a group or change its description (names are unique per team)."""
    name = name.strip()
    if not name:
        raise ServerError("A group needs a name.")
    group.name, group.description = name, description.strip()
    try:
        with transaction.atomic():
            group.save(update_fields=["name", "description"])
    except IntegrityError:
        raise ServerError(f"There is already a group named {name!r}.") from None
    audit.record("group.updated", actor=actor, team=group.team, target=group, request=request)
    return group


def delete_group(actor: Any, group: ServerGroup, *, request: HttpRequest | None = None) -> None:
    audit.record("group.deleted", actor=actor, team=group.team, target=group, request=request)
    group.delete()


@transaction.atomic
def tag_servers(
    actor: Any,
    servers: list[Server],
    tag: Tag,
    *,
    remove: bool = False,
    request: HttpRequest | None = None,
) -> int:
    """Add (or remove) one tag on many servers at once."""
    if any(server.team_id != tag.team_id for server in servers):
        raise ServerError("A selected server belongs to another team.")
    for server in servers:
        (server.tags.remove if remove else server.tags.add)(tag)
    audit.record(
        "tag.removed" if remove else "tag.assigned",
        actor=actor,
        team=tag.team,
        target=tag,
        request=request,
        details={"servers": [s.name for s in servers]},
    )
    return len(servers)
