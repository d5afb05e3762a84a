"""The `options` of a source as a pydantic model per kind (`SourceKind.options_model`).

Every kind declares one: the config loader validates each source's `options` through it before any data is read,
so an unknown option, a value of the wrong type or an option a kind needs given the others is reported with the
file and the line of the config (`apportion check-config`). Only pydantic is imported here: a kind's model, like
the config, loads no cloud SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assets.schemas import Column


class KindOptions(BaseModel):
    """The options a kind reads; any other option is refused. The validation context holds the source's `path`
    (`info.context["path"]`, absent when a reader parses its options), for options that depend on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(KindOptions):
    """A kind that reads no options."""


class CanonicalOptions(KindOptions):
    """`fields`: a column of the kind's `target_schema` → the file's own name for it, e.g. `{team: team_name}`."""

    target_schema: ClassVar[list[Column]]
    fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _columns(cls, fields: dict[str, str]) -> dict[str, str]:
        check_renamed(cls.target_schema, fields)
        return fields


def check_renamed(schema: list[Column], fields: Mapping[str, str]) -> None:
    """Option `fields` renames only columns of `schema`."""
    unknown = sorted(set(fields) - {c.name for c in schema})
    if unknown:
        raise ValueError(f"not columns of the target schema: {', '.join(unknown)}")


OptionsT = TypeVar("OptionsT", bound=KindOptions)


def options_as(model: type[OptionsT], options: Mapping[str, object], source: str | None = None) -> OptionsT:
    """`options` as `model` where a reader or a fetch is handed them; an error names each option (`options.fields:
    …`), and the source when given."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = "; ".join(f"options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(
            ("" if source is None else f"source {source}: ") + problems.replace("Value error, ", "")
        ) from None
