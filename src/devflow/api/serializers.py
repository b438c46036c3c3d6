"""The base of every API serializer: unknown fields are an error, not silently ignored;
fields listed in `Meta.secret_fields` are write-only unless the token may read secrets."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from devflow.api.permissions import may_read_secrets


class StrictSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(self.fields)
            unknown = sorted(key for key in data if key not in known)
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer, StrictSerializer):
    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for field in fields.values():
            _scope_to_user(field, user)
        secret = getattr(getattr(self, "Meta", None), "secret_fields", ())
        if secret and (request is None or not may_read_secrets(request)):
            for name in secret:
                if name in fields:
                    fields[name].write_only = True
        return fields


def _scope_to_user(field: Any, user: Any) -> None:
    """Related ids only resolve to objects of the user's teams (another team's: "not found")."""
    target = getattr(field, "child_relation", field)
    queryset = getattr(target, "queryset", None)
    if queryset is not None and hasattr(queryset, "for_user") and user is not None:
        target.queryset = queryset.for_user(user)


# The largest id the database holds (a 64-bit primary key): a bigger one is a 400, not a 500.
MAX_ID = 2**63 - 1


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """An object's id in a request body."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def team_field() -> serializers.IntegerField:
    """The owning team's id: given on create (needed when the user is in several teams)."""
    return id_field(
        source="team_id", required=False, help_text="Team id; needed if you are in several."
    )
