"""The project's event catalogue: sanctions and eastern-border policy events.

hybridflow ships its own catalogue, ``hybridflow/data/tables/events.csv``, combining four
tables compiled for this study (EU sanctions on Russia, US actions on Russia and Belarus, EU
sanctions on Belarus, and border-policy events on the EU's eastern land borders). The facts
(ids, dates, actors, sectors, confidence, citations) come from those tables; every ``summary``
and ``note`` is written for the catalogue. The ``UA-`` rows (Ukraine's martial-law exit ban,
mobilisation laws and exit rules, which decide who may leave Ukraine across the EU's eastern
land borders) are in none of those tables: they were looked up for the project, and each
``source`` cell names its outlets with URLs and ends with the access date. A user may supply a
catalogue of their own in the same format: :func:`load_events` validates it row by row.

File format (UTF-8 CSV, one header row, ISO dates ``YYYY-MM-DD``, ``;`` inside list fields):

==================  ==========================================================================
column              meaning
==================  ==========================================================================
``event_id``        unique id, e.g. ``EU-RU-05``, ``US-17``, ``BP-039``, ``UA-04``
``family``          ``sanctions`` or ``border_policy``
``actor``           acting state(s), upper-case codes: ``EU``, ``US``, ``PL``, ``FI``, ...;
                    several actors as a ``;``-list (``TR;IQ``)
``target``          sanctions rows: ``Russia``, ``Belarus`` or ``both`` (a Russia package that
                    also carried Belarus measures); blank for border rows
``kind``            sanctions: ``sanctions_package`` (numbered EU package or round),
                    ``sanctions_action`` (any other measure), ``sanctions_relief``, ``bill``
                    (legislation, not an executive sanctions act); border: ``barrier``,
                    ``closure``, ``emergency``, ``legal_change``,
                    ``instrumentalisation_episode``, ``political_change``
``announced_date``  earlier public date (political agreement, proposal, decision or
                    announcement) where known and different; may be blank
``start_date``      sanctions: formal adoption (legal act, executive order, designation);
                    border: the day the measure or episode began. Blank only where adoption
                    is unconfirmed (then ``announced_date`` is required)
``end_date``        end of a measure or episode; blank = instantaneous, ongoing or unverified
``package_number``  EU package / round number; blank otherwise
``sectors``         sanctions rows: ``;``-list from :data:`SECTORS`; blank for border rows
``border``          border rows: ``;``-list of dyads such as ``BY-PL`` or ``RU-FI``; blank for
                    sanctions rows
``direction``       sanctions: ``tighten``, ``relax`` (relief) or ``none`` (not a sanctions
                    act, e.g. a bill). Border rows: ``tighten`` (restricts crossing or
                    entry), ``relax`` (loosens control), ``none`` (no legal effect: a
                    proposal, strategy or communication) or blank (episodes and political
                    changes, which carry no sign)
``confidence``      ``high``, ``medium`` or ``low`` (of the date; see the note)
``date_precision``  ``day``, or ``month`` when only the month of ``start_date`` is known (the
                    date is then the 1st of the month)
``summary``         one short neutral sentence
``source``          citation(s)
``note``            caveats, discrepancies with the think-tank report; may be blank
==================  ==========================================================================

Dates may not lie in the future (``end_date`` excepted: a scheduled end may be ahead).
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.resources
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from hybridflow.errors import InputError, SpecError
from hybridflow.io import sha256_file

__all__ = [
    "BORDER_KINDS",
    "COLUMNS",
    "CONFIDENCE_LEVELS",
    "DATE_PRECISIONS",
    "DIRECTIONS",
    "FAMILIES",
    "KINDS",
    "MEASURE_DIRECTIONS",
    "SANCTIONS_KINDS",
    "SECTORS",
    "TARGETS",
    "Confidence",
    "Direction",
    "EventRecord",
    "Family",
    "MeasureDirection",
    "Target",
    "catalogue_path",
    "filter_events",
    "load_events",
    "read_csv_records",
]

SECTORS: tuple[str, ...] = (
    "energy_oil",
    "energy_gas",
    "finance",
    "trade_export",
    "trade_import",
    "individuals",
    "transport",
    "shadow_fleet",
    "metals_mining",
    "technology",
    "belarus",
    "other",
)
"""Sanctions sectors. ``other`` covers coal, media bans, visas, diplomats, services bans,
listing-criteria changes and tariffs; ``belarus`` marks Belarus measures inside a package."""

SANCTIONS_KINDS: tuple[str, ...] = (
    "sanctions_package",
    "sanctions_action",
    "sanctions_relief",
    "bill",
)
BORDER_KINDS: tuple[str, ...] = (
    "barrier",
    "closure",
    "emergency",
    "legal_change",
    "instrumentalisation_episode",
    "political_change",
)
KINDS: tuple[str, ...] = SANCTIONS_KINDS + BORDER_KINDS

# The closed vocabularies as Literal types (for spec fields) and tuples (for checks).
Family = Literal["sanctions", "border_policy"]
Target = Literal["Russia", "Belarus", "both"]
#: Directions a measure can take; a catalogue row may also have "none" (e.g. an episode).
MeasureDirection = Literal["tighten", "relax"]
Direction = Literal[MeasureDirection, "none"]
Confidence = Literal["low", "medium", "high"]
FAMILIES: tuple[str, ...] = get_args(Family)
TARGETS: tuple[str, ...] = get_args(Target)
MEASURE_DIRECTIONS: tuple[str, ...] = get_args(MeasureDirection)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
CONFIDENCE_LEVELS: tuple[str, ...] = get_args(Confidence)
"""Ordered from weakest to strongest."""
DATE_PRECISIONS: tuple[str, ...] = ("day", "month")

COLUMNS: tuple[str, ...] = (
    "event_id",
    "family",
    "actor",
    "target",
    "kind",
    "announced_date",
    "start_date",
    "end_date",
    "package_number",
    "sectors",
    "border",
    "direction",
    "confidence",
    "date_precision",
    "summary",
    "source",
    "note",
)
DATE_COLUMNS: tuple[str, ...] = ("announced_date", "start_date", "end_date")

_CATALOGUE = ("tables", "events.csv")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_ACTOR_RE = re.compile(r"^[A-Z]{2,3}$")
_DYAD_RE = re.compile(r"^[A-Z]{2}-[A-Z]{2}$")


# --------------------------------------------------------------------------- CSV reading


def read_csv_records(path: str | Path, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """Read a UTF-8 CSV whose header must hold exactly ``columns`` (in any order).

    Returns ``(row, record)`` pairs, where ``row`` is the 1-based line on which the record
    starts (the header is row 1) and ``record`` maps column to the stripped cell text.
    Blank lines are skipped. Shared by the event catalogue and the bring-your-own readers.

    Raises
    ------
    InputError
        Missing file, undecodable text, empty file, a missing, duplicated or unexpected
        column, or a row with the wrong number of fields.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise InputError(
                    path, f"file is empty; expected a header row: {','.join(columns)}", row=1
                ) from None
            header = [h.strip() for h in header]
            _check_header(path, header, columns)
            records: list[tuple[int, dict[str, str]]] = []
            last_line = reader.line_num
            for values in reader:
                row = last_line + 1
                last_line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    # Name the first column that is short, or the last one when there are extras.
                    col = header[len(values)] if len(values) < len(header) else header[-1]
                    raise InputError(
                        path,
                        f"expected {len(header)} fields, found {len(values)} "
                        "(a comma inside an unquoted cell?)",
                        row=row,
                        column=col,
                    )
                records.append((row, {h: v.strip() for h, v in zip(header, values, strict=True)}))
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise InputError(path, f"malformed CSV: {exc}") from exc
    return records


def read_csv_header(path: str | Path) -> list[str]:
    """The stripped column names of a CSV file's first row (InputError if none)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not header:
        raise InputError(path, "file is empty; expected a header row", row=1)
    return [h.strip() for h in header]


def _check_header(path: Path, header: list[str], columns: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(
                path, f"column {name!r} appears twice in the header", row=1, column=name
            )
        seen.add(name)
    unexpected = [h for h in header if h not in columns]
    extra = f"; unexpected column(s): {', '.join(map(repr, unexpected))}" if unexpected else ""
    for name in columns:
        if name not in seen:
            raise InputError(
                path,
                f"missing column {name!r}{extra}; expected the columns {','.join(columns)}",
                row=1,
                column=name,
            )
    if unexpected:
        raise InputError(
            path,
            f"unexpected column {unexpected[0]!r}; expected exactly the columns {','.join(columns)}",
            row=1,
            column=unexpected[0],
        )


# --------------------------------------------------------------------------- one row


def _split(value: object) -> list[str]:
    return [p.strip() for p in str(value or "").split(";") if p.strip()]


def _choices(values: Iterable[str]) -> str:
    return ", ".join(values)


def _family_list(
    v: object,
    info: ValidationInfo,
    *,
    item: str,
    blank_for: tuple[str, str],
    needed_by: tuple[str, str],
    check: Callable[[str], str | None],
) -> tuple[str, ...]:
    """A ``;``-separated list that one family must leave blank and the other must fill.

    ``blank_for`` and ``needed_by`` are (family, message) pairs: sectors are blank for
    border rows and needed by sanctions rows, border dyads the other way round. ``check``
    returns the problem with one value, or None.
    """
    parts = _split(v)
    family = info.data.get("family")
    if family == blank_for[0] and parts:
        raise ValueError(f"{blank_for[1]}, got {str(v)!r}")
    if family == needed_by[0] and not parts:
        raise ValueError(needed_by[1])
    for p in parts:
        problem = check(p)
        if problem is not None:
            raise ValueError(problem)
    if len(set(parts)) != len(parts):
        raise ValueError(f"a {item} is listed twice in {str(v)!r}")
    return tuple(parts)


class EventRecord(BaseModel):
    """One validated catalogue row (fields in file order; blanks are ``None`` or empty).

    Validation needs the context key ``today`` (a :class:`datetime.date`) for the
    no-future-dates rule; :func:`load_events` supplies it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    family: str
    actor: str
    target: str
    kind: str
    announced_date: dt.date | None
    start_date: dt.date | None
    end_date: dt.date | None
    package_number: int | None
    sectors: tuple[str, ...]
    border: tuple[str, ...]
    direction: str
    confidence: str
    date_precision: str
    summary: str
    source: str
    note: str

    @field_validator("event_id", mode="before")
    @classmethod
    def _event_id(cls, v: object) -> str:
        s = str(v or "").strip()
        if not _ID_RE.match(s):
            raise ValueError(
                f"expected an id of letters, digits and '-_.:' (e.g. 'EU-RU-05'), got {s!r}"
            )
        return s

    @field_validator("family", mode="before")
    @classmethod
    def _family(cls, v: object) -> str:
        s = str(v or "").strip()
        if s not in FAMILIES:
            raise ValueError(f"expected one of {_choices(FAMILIES)}, got {s!r}")
        return s

    @field_validator("actor", mode="before")
    @classmethod
    def _actor(cls, v: object) -> str:
        parts = _split(v)
        if not parts or not all(_ACTOR_RE.match(p) for p in parts):
            raise ValueError(
                "expected the acting state(s) as upper-case codes separated by ';' "
                f"(e.g. 'EU', 'US', 'PL;LT'), got {str(v or '')!r}"
            )
        return ";".join(parts)

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: object, info: ValidationInfo) -> str:
        s = str(v or "").strip()
        family = info.data.get("family")
        if family == "sanctions" and s not in TARGETS:
            raise ValueError(f"sanctions rows need a target, one of {_choices(TARGETS)}; got {s!r}")
        if family == "border_policy" and s:
            raise ValueError(f"border_policy rows have a blank target, got {s!r}")
        return s

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: object, info: ValidationInfo) -> str:
        s = str(v or "").strip()
        family = info.data.get("family")
        allowed = {"sanctions": SANCTIONS_KINDS, "border_policy": BORDER_KINDS}.get(
            str(family), KINDS
        )
        if s not in allowed:
            scope = f" for a {family} row" if family in FAMILIES else ""
            raise ValueError(f"unknown kind {s!r}{scope}; expected one of {_choices(allowed)}")
        return s

    @field_validator("announced_date", "start_date", "end_date", mode="before")
    @classmethod
    def _date(cls, v: object, info: ValidationInfo) -> dt.date | None:
        s = str(v if v is not None else "").strip()
        if not s:
            return None
        if not _DATE_RE.match(s):
            raise ValueError(f"expected a date as YYYY-MM-DD, got {s!r}")
        try:
            day = dt.date.fromisoformat(s)
        except ValueError:
            raise ValueError(f"expected a valid calendar date as YYYY-MM-DD, got {s!r}") from None
        today = (info.context or {}).get("today") or dt.date.today()
        if info.field_name != "end_date" and day > today:
            raise ValueError(f"date {s} is in the future (today is {today.isoformat()})")
        return day

    @field_validator("start_date", mode="after")
    @classmethod
    def _start_after_announced(cls, v: dt.date | None, info: ValidationInfo) -> dt.date | None:
        announced = info.data.get("announced_date")
        if v is None:
            if info.data.get("family") == "border_policy":
                raise ValueError("border_policy rows need a start_date")
            if announced is None and "announced_date" in info.data:
                raise ValueError("needs a start_date or at least an announced_date")
        elif announced is not None and v < announced:
            raise ValueError(
                f"start_date {v.isoformat()} is before announced_date {announced.isoformat()}"
            )
        return v

    @field_validator("end_date", mode="after")
    @classmethod
    def _end_after_start(cls, v: dt.date | None, info: ValidationInfo) -> dt.date | None:
        if v is None:
            return v
        start = info.data.get("start_date")
        if start is None and "start_date" in info.data:
            raise ValueError("an end_date needs a start_date")
        if start is not None and v < start:
            raise ValueError(f"end_date {v.isoformat()} is before start_date {start.isoformat()}")
        return v

    @field_validator("package_number", mode="before")
    @classmethod
    def _package(cls, v: object, info: ValidationInfo) -> int | None:
        s = str(v if v is not None else "").strip()
        if not s:
            return None
        if info.data.get("family") == "border_policy":
            raise ValueError(f"border_policy rows have no package_number, got {s!r}")
        if not s.isdigit() or int(s) < 1:
            raise ValueError(f"expected a positive whole number, got {s!r}")
        return int(s)

    @field_validator("sectors", mode="before")
    @classmethod
    def _sectors(cls, v: object, info: ValidationInfo) -> tuple[str, ...]:
        def check(p: str) -> str | None:
            if p in SECTORS:
                return None
            return f"unknown sector {p!r}; expected ';'-separated values from {_choices(SECTORS)}"

        return _family_list(
            v,
            info,
            item="sector",
            blank_for=("border_policy", "border_policy rows have no sectors"),
            needed_by=(
                "sanctions", f"sanctions rows need at least one sector from {_choices(SECTORS)}"
            ),
            check=check,
        )

    @field_validator("border", mode="before")
    @classmethod
    def _border(cls, v: object, info: ValidationInfo) -> tuple[str, ...]:
        def check(p: str) -> str | None:
            if _DYAD_RE.match(p):
                return None
            return f"expected border dyads like 'BY-PL' or 'RU-FI' separated by ';', got {p!r}"

        return _family_list(
            v,
            info,
            item="dyad",
            blank_for=("sanctions", "sanctions rows have a blank border"),
            needed_by=(
                "border_policy", "border_policy rows need at least one border dyad such as 'BY-PL'"
            ),
            check=check,
        )

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, v: object, info: ValidationInfo) -> str:
        s = str(v or "").strip()
        if info.data.get("family") == "sanctions" and s not in DIRECTIONS:
            raise ValueError(
                f"sanctions rows need a direction, one of {_choices(DIRECTIONS)}; got {s!r}"
            )
        if s and s not in DIRECTIONS:
            raise ValueError(f"expected blank or one of {_choices(DIRECTIONS)}, got {s!r}")
        return s

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, v: object) -> str:
        s = str(v or "").strip()
        if s not in CONFIDENCE_LEVELS:
            raise ValueError(
                f"unknown confidence {s!r}; expected one of {_choices(CONFIDENCE_LEVELS)}"
            )
        return s

    @field_validator("date_precision", mode="before")
    @classmethod
    def _precision(cls, v: object, info: ValidationInfo) -> str:
        s = str(v or "").strip()
        if s not in DATE_PRECISIONS:
            raise ValueError(f"expected one of {_choices(DATE_PRECISIONS)}, got {s!r}")
        day = info.data.get("start_date") or info.data.get("announced_date")
        if s == "month" and day is not None and day.day != 1:
            raise ValueError(
                f"month precision means the date is the 1st of its month, got {day.isoformat()}"
            )
        return s

    @field_validator("summary", "source", mode="before")
    @classmethod
    def _required_text(cls, v: object, info: ValidationInfo) -> str:
        s = " ".join(str(v or "").split())
        if not s:
            raise ValueError(f"{info.field_name} must not be blank")
        return s

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, v: object) -> str:
        return " ".join(str(v or "").split())


def _problem(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


# --------------------------------------------------------------------------- loading


def catalogue_path() -> Path:
    """Where the packaged catalogue lives on disk."""
    ref = importlib.resources.files("hybridflow.data").joinpath(*_CATALOGUE)
    return Path(str(ref))


def load_events(
    path: str | Path | None = None, *, today: dt.date | pd.Timestamp | None = None
) -> pd.DataFrame:
    """Load and validate an event catalogue (by default the one shipped with hybridflow).

    Parameters
    ----------
    path
        A CSV in the catalogue format (see the module docstring); ``None`` reads the packaged
        ``tables/events.csv``.
    today
        Reference date for the no-future-dates rule (default: the system date).

    Returns
    -------
    pandas.DataFrame
        One row per event, in file order, with the columns of :data:`COLUMNS` plus
        ``effective_date`` (``start_date`` if present, else ``announced_date``). Dates are
        ``datetime64[ns]`` (``NaT`` when blank); ``sectors`` and ``border`` are tuples of str;
        ``package_number`` is nullable ``Int64``; blank text cells are ``""``.
        ``attrs`` holds ``path`` and ``sha256`` of the file read.

    Raises
    ------
    InputError
        On the first bad row, naming the file, row and column and what was expected.
    """
    if path is None:
        with importlib.resources.as_file(
            importlib.resources.files("hybridflow.data").joinpath(*_CATALOGUE)
        ) as packaged:
            return _load(Path(packaged), today)
    return _load(Path(path), today)


def _load(path: Path, today: dt.date | pd.Timestamp | None) -> pd.DataFrame:
    ref_day = pd.Timestamp(today).date() if today is not None else dt.date.today()
    records = read_csv_records(path, COLUMNS)
    if not records:
        raise InputError(path, "no events below the header", row=2)
    parsed: list[EventRecord] = []
    first_row: dict[str, int] = {}
    for row, rec in records:
        try:
            event = EventRecord.model_validate(rec, context={"today": ref_day})
        except ValidationError as exc:
            err = exc.errors()[0]
            column = str(err["loc"][0]) if err.get("loc") else None
            raise InputError(path, _problem(dict(err)), row=row, column=column) from None
        if event.event_id in first_row:
            raise InputError(
                path,
                f"duplicate event_id {event.event_id!r} (first used on row {first_row[event.event_id]})",
                row=row,
                column="event_id",
            )
        first_row[event.event_id] = row
        parsed.append(event)
    return _to_frame(parsed, path)


def _to_frame(events: Sequence[EventRecord], path: Path) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for col in COLUMNS:
        values = [getattr(e, col) for e in events]
        if col in DATE_COLUMNS:
            data[col] = pd.to_datetime(pd.Series(values, dtype=object)).astype("datetime64[ns]")
        elif col == "package_number":
            data[col] = pd.array(values, dtype="Int64")
        else:
            data[col] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(data)
    frame["effective_date"] = frame["start_date"].fillna(frame["announced_date"])
    frame.attrs["path"] = str(path)
    frame.attrs["sha256"] = sha256_file(path)
    return frame


# --------------------------------------------------------------------------- filtering


def _as_set(
    name: str, value: str | Iterable[str] | None, allowed: Sequence[str] | None
) -> set[str] | None:
    if value is None:
        return None
    values = {value} if isinstance(value, str) else {str(v) for v in value}
    if allowed is not None:
        unknown = sorted(values - set(allowed))
        if unknown:
            raise SpecError(
                f"filter_events: unknown {name} {', '.join(map(repr, unknown))}; "
                f"expected values from {_choices(allowed)}"
            )
    return values


def _require_ids(events: pd.DataFrame, ids: set[str] | None) -> None:
    if ids is not None:
        missing = sorted(ids - set(events["event_id"]))
        if missing:
            raise SpecError(f"filter_events: event_ids not in the catalogue: {', '.join(missing)}")


def _value_mask(
    events: pd.DataFrame,
    fam: set[str] | None,
    act: set[str] | None,
    tgt: set[str] | None,
    knd: set[str] | None,
    sec: set[str] | None,
    drc: set[str] | None,
) -> pd.Series:
    """Rows matching every given family, actor, target, kind, sector and direction set."""
    keep = pd.Series(True, index=events.index)
    if fam is not None:
        keep &= events["family"].isin(fam)
    if act is not None:
        keep &= events["actor"].map(lambda a: bool(set(str(a).split(";")) & act))
    if tgt is not None:
        wanted = set(tgt)
        if wanted & {"Russia", "Belarus"}:  # rows targeting both match either
            wanted.add("both")
        keep &= events["target"].isin(wanted)
    if knd is not None:
        keep &= events["kind"].isin(knd)
    if sec is not None:
        keep &= events["sectors"].map(lambda s: bool(set(s) & sec))
    if drc is not None:
        keep &= events["direction"].isin(drc)
    return keep


def filter_events(
    events: pd.DataFrame,
    *,
    family: str | Sequence[str] | None = None,
    actor: str | Sequence[str] | None = None,
    target: str | Sequence[str] | None = None,
    kinds: str | Sequence[str] | None = None,
    sectors: str | Sequence[str] | None = None,
    direction: str | Sequence[str] | None = None,
    min_confidence: str | None = "medium",
    event_ids: str | Sequence[str] | None = None,
    exclude_ids: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Select events from a frame returned by :func:`load_events`.

    Every filter takes a single value or a sequence (any-of); ``None`` means no filter.

    Parameters
    ----------
    family, kinds, direction
        Exact matches against :data:`FAMILIES`, :data:`KINDS`, :data:`DIRECTIONS`.
    actor
        Matches if any of the row's ``;``-separated actors is listed.
    target
        ``"Russia"`` or ``"Belarus"`` also match rows with target ``both`` (a Russia package
        carrying Belarus measures); ``"both"`` matches only those rows. Border rows (blank
        target) never match a target filter.
    sectors
        Rows with at least one of the given sectors.
    min_confidence
        Keep rows at or above this level (``low < medium < high``); ``None`` keeps all. The
        default ``"medium"`` drops the ``low`` rows whose occurrence is unconfirmed.
    event_ids, exclude_ids
        Keep only / drop these ids. An id in ``event_ids`` that is not in ``events`` is an
        error; unknown ``exclude_ids`` are ignored (the frame may already be filtered).

    Rows with direction ``none`` (not an actual sanctions act or measure, e.g. a bill or a
    proposal) are dropped unless ``direction`` includes ``"none"`` or ``event_ids`` names them.

    Returns
    -------
    pandas.DataFrame
        The matching rows in their original order, with a fresh index.

    Raises
    ------
    SpecError
        An unknown family, target, kind, sector, direction, confidence level or event id.
    """
    fam = _as_set("family", family, FAMILIES)
    act = _as_set("actor", actor, None)
    tgt = _as_set("target", target, TARGETS)
    knd = _as_set("kind", kinds, KINDS)
    sec = _as_set("sector", sectors, SECTORS)
    drc = _as_set("direction", direction, DIRECTIONS)
    ids = _as_set("event_id", event_ids, None)
    excl = _as_set("event_id", exclude_ids, None) or set()
    if min_confidence is not None and min_confidence not in CONFIDENCE_LEVELS:
        raise SpecError(
            f"filter_events: unknown min_confidence {min_confidence!r}; "
            f"expected one of {_choices(CONFIDENCE_LEVELS)}"
        )
    _require_ids(events, ids)
    keep = _value_mask(events, fam, act, tgt, knd, sec, drc)
    if min_confidence is not None:
        rank = {level: i for i, level in enumerate(CONFIDENCE_LEVELS)}
        keep &= events["confidence"].map(rank) >= rank[min_confidence]
    if ids is not None:
        keep &= events["event_id"].isin(ids)
    if excl:
        keep &= ~events["event_id"].isin(excl)
    # 'none' rows are not interventions: only an explicit request brings them back.
    if drc is None or "none" not in drc:
        asked = events["event_id"].isin(ids) if ids is not None else False
        keep &= (events["direction"] != "none") | asked
    return events.loc[keep].reset_index(drop=True)
