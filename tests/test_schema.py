"""The shared spec plumbing: strict tables, one error format, TOML loading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field, field_validator

from hybridflow.errors import SpecError
from hybridflow.schema import StrictModel, check_choice, load_toml, validate

COLOURS = ("red", "green")


class _A(StrictModel):
    kind: Literal["a"]
    size: int = 1


class _B(StrictModel):
    kind: Literal["b"]


class _Item(StrictModel):
    colour: str = "red"
    from_: str = Field(default="+1", alias="from")

    @field_validator("colour")
    @classmethod
    def _colour(cls, v: str) -> str:
        return check_choice(v, COLOURS, kind="colour")


class _Doc(StrictModel):
    name: str
    mode: Literal["fast", "slow"] = "fast"
    items: list[_Item] = Field(default_factory=list)
    parts: list[Annotated[_A | _B, Field(discriminator="kind")]] = Field(default_factory=list)


TAGS = {"kind": ("a", "b")}


def _problem(data: dict[str, object]) -> str:
    with pytest.raises(SpecError) as exc:
        validate(_Doc, data, what="test doc", union_tags=TAGS)
    return str(exc.value)


def test_unknown_key_suggests_a_close_match_and_lists_aliases() -> None:
    msg = _problem({"name": "x", "items": [{"frm": "+2"}]})
    assert msg.startswith("invalid test doc: items[0]: unknown field 'frm' (did you mean 'from'?)")
    assert "valid fields: 'colour', 'from'" in msg


def test_field_paths_choices_and_literals() -> None:
    msg = _problem({"name": "x", "mode": "medium", "items": [{"colour": "rde"}]})
    assert "2 problems" in msg
    assert "mode: got 'medium'; valid options: 'fast' or 'slow'" in msg
    assert "items[0].colour: unknown colour 'rde' (did you mean 'red'?); " in msg
    assert "valid options: 'red', 'green'" in msg


def test_union_tags_are_named_not_echoed_in_the_path() -> None:
    msg = _problem({"name": "x", "parts": [{"kind": "c"}, {}, {"kind": "a", "size": "big"}]})
    assert "parts[0].kind: unknown kind 'c'; valid options: 'a', 'b'" in msg
    assert "parts[1]: missing 'kind'; valid options: 'a', 'b'" in msg
    assert "parts[2].size:" in msg  # not parts[2].a.size


def test_missing_field_and_alias_population() -> None:
    assert "name: required field is missing" in _problem({})
    doc = validate(_Doc, {"name": "x", "items": [{"from": "+3"}]}, what="test doc")
    assert doc.items[0].from_ == "+3"


def test_load_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "doc.toml"
    with pytest.raises(SpecError, match="doc.toml: test doc not found"):
        load_toml(path, _Doc, what="test doc")
    path.write_text("name = ", encoding="utf-8")
    with pytest.raises(SpecError, match="doc.toml: not valid TOML"):
        load_toml(path, _Doc, what="test doc")
    path.write_text('name = "x"\nmode = "slow"\n', encoding="utf-8")
    assert load_toml(path, _Doc, what="test doc").mode == "slow"
    path.write_text('nam = "x"\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"doc.toml: invalid test doc: \(top level\): unknown field 'nam'"):
        load_toml(path, _Doc, what="test doc")
