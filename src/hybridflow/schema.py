"""Spec-file plumbing shared by the model, scenario and study specs.

Every spec file hybridflow reads (``models/*.toml``, scenario files, ``study.toml``) is a
TOML file validated by a pydantic model built on :class:`StrictModel`: unknown keys are
errors that list the valid ones, and every problem of a file is raised as one
:class:`~hybridflow.errors.SpecError` whose lines read ``field.path: what was wrong`` (the
valid options included where there is a fixed set). This module holds that base, the one
error formatter and the TOML loading, so the three specs report problems the same way.

Usage::

    class Settings(StrictModel):
        kernel: str

    settings = load_toml("settings.toml", Settings, what="settings file")
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from hybridflow.errors import SpecError

__all__ = [
    "StrictModel",
    "check_choice",
    "format_error",
    "format_loc",
    "format_options",
    "load_toml",
    "read_toml",
    "spec_error",
    "unknown_choice",
    "validate",
]

#: Prefixes pydantic puts before the text of a validator's ValueError / AssertionError.
_MESSAGE_PREFIXES = ("Value error, ", "Assertion failed, ")


def format_options(options: Iterable[str]) -> str:
    """``'a', 'b', 'c'``: how every spec message lists the valid options."""
    return ", ".join(repr(o) for o in options)


def unknown_choice(kind: str, value: str, options: Sequence[str]) -> ValueError:
    """``unknown <kind> 'x' (did you mean 'y'?); valid options: ...`` as a ValueError."""
    close = difflib.get_close_matches(value, list(options), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(f"unknown {kind} {value!r}{hint}; valid options: {format_options(options)}")


def check_choice(value: str, options: Sequence[str], *, kind: str) -> str:
    """``value`` if it is one of ``options``; else :func:`unknown_choice`'s error."""
    if value not in options:
        raise unknown_choice(kind, value, options)
    return value


class StrictModel(BaseModel):
    """Base of every spec table: frozen, defaults validated, unknown keys an error.

    An unknown key's message names it, suggests a close match and lists the valid keys
    (aliases, e.g. ``from``, as the file spells them).
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, populate_by_name=True
    )

    @model_validator(mode="before")
    @classmethod
    def _unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            valid = [f.alias or n for n, f in cls.model_fields.items()]
            unknown = [k for k in data if k not in valid and k not in cls.model_fields]
            if unknown:
                key = str(unknown[0])
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown field {key!r}{hint}; valid fields: {format_options(valid)}"
                )
        return data


# --------------------------------------------------------------------------- messages


def format_loc(
    loc: Sequence[int | str], *, union_tags: Mapping[str, Sequence[str]] | None = None
) -> str:
    """pydantic's error location as the file spells it: ``drivers[2].kernel.name``.

    ``union_tags`` maps a discriminator field to its tags: pydantic puts the tag after a
    list index (``drivers, 2, 'events', kernel``), which is noise to the reader. Field
    names with a trailing ``_`` (``from_``, a Python keyword) lose it.
    """
    tags = {t for values in (union_tags or {}).values() for t in values}
    out = ""
    prev: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (isinstance(prev, int) and part in tags) or part.startswith("function-"):
            pass
        else:
            name = part[:-1] if part.endswith("_") else part
            out += f".{name}" if out else name
        prev = part
    return out or "(top level)"


def format_error(
    err: Mapping[str, Any], *, union_tags: Mapping[str, Sequence[str]] | None = None
) -> str:
    """One pydantic error as ``field.path: what was wrong`` (valid options where known)."""
    loc = format_loc(tuple(err.get("loc", ())), union_tags=union_tags)
    typ = err.get("type", "")
    msg = str(err.get("msg", ""))
    for prefix in _MESSAGE_PREFIXES:
        msg = msg.removeprefix(prefix)
    inp = err.get("input")
    ctx = err.get("ctx") or {}
    if typ == "literal_error":
        msg = f"got {inp!r}; valid options: {msg.removeprefix('Input should be ')}"
    elif typ in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "")).strip("'")
        options = format_options((union_tags or {}).get(field, ()))
        if typ == "union_tag_invalid":
            loc = f"{loc}.{field}"
            msg = f"unknown {field} {ctx.get('tag')!r}; valid options: {options}"
        else:
            msg = f"missing {field!r}; valid options: {options}"
    elif typ == "missing":
        msg = "required field is missing"
    elif typ == "extra_forbidden":
        msg = "unknown field"
    return f"{loc}: {msg}"


def spec_error(
    errors: Iterable[Mapping[str, Any]],
    *,
    what: str,
    source: str | Path | None,
    format_error: Callable[[Mapping[str, Any]], str] = format_error,
) -> SpecError:
    """One :class:`SpecError` listing every distinct validation problem of a file.

    ``errors`` are pydantic's ``ValidationError.errors()``; ``format_error`` turns one into
    ``"field.path: what was wrong"``; ``what`` names the kind of file ("model spec").
    """
    lines: list[str] = []
    for err in errors:
        line = format_error(err)
        if line not in lines:
            lines.append(line)
    where = f"{source}: " if source is not None else ""
    if len(lines) == 1:
        return SpecError(f"{where}invalid {what}: {lines[0]}")
    body = "\n".join(f"  - {line}" for line in lines)
    return SpecError(f"{where}invalid {what} ({len(lines)} problems):\n{body}")


# --------------------------------------------------------------------------- loading


def validate[M: BaseModel](
    model_cls: type[M],
    data: Any,
    *,
    what: str,
    source: str | Path | None = None,
    union_tags: Mapping[str, Sequence[str]] | None = None,
) -> M:
    """``model_cls.model_validate(data)``, its problems raised as one :class:`SpecError`.

    Parameters
    ----------
    model_cls
        The spec model.
    data
        A dict, e.g. parsed TOML.
    what
        The kind of file, for the message ("model spec").
    source
        The file the data came from, named first in the message.
    union_tags
        Discriminated unions of the model (see :func:`format_loc`).
    """
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise spec_error(
            exc.errors(include_url=False),
            what=what,
            source=source,
            format_error=lambda err: format_error(err, union_tags=union_tags),
        ) from None


def read_toml(path: str | Path, *, what: str) -> tuple[dict[str, Any], str]:
    """The parsed TOML of ``path`` and its text.

    Raises
    ------
    SpecError
        ``<path>: <what> not found`` or ``<path>: not valid TOML: ...``.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: {what} not found")
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None


def load_toml[M: BaseModel](
    path: str | Path,
    model_cls: type[M],
    *,
    what: str,
    union_tags: Mapping[str, Sequence[str]] | None = None,
) -> M:
    """Read a TOML file and validate it into ``model_cls``.

    Raises
    ------
    SpecError
        The file is missing, is not valid TOML, or does not validate (every problem named,
        the file first).
    """
    raw, _ = read_toml(path, what=what)
    return validate(model_cls, raw, what=what, source=path, union_tags=union_tags)
