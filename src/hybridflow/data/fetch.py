"""Download the newest official data files into the user cache (``hybridflow data update``).

Each :class:`RemoteSource` names one upstream file. :func:`update` downloads it, checks it
with the same loader the panel uses, and only then moves it into the cache and records it
in ``manifest.json``. Working data is never replaced by a file that does not parse and
validate, and nothing is written at all when the network cannot be reached.

Cache layout (see :func:`user_cache_dir`)::

    <cache>/manifest.json                  name -> url, sha256, bytes, retrieved_at, vintage
    <cache>/<name>/<filename>              the last good copy of each source

Upstream locations and their caveats
------------------------------------
``frontex_ibc``
    Frontex publishes "Monthly detections of illegal border crossings" on its Migratory Map
    page (:data:`FRONTEX_LANDING_URL`) as a workbook whose name carries the release date,
    ``https://www.frontex.europa.eu/assets/Migratory_routes/<YYYY>/Monthly_detections_of_IBC_<YYYY>_<MM>_<DD>.xlsx``.
    Because the name changes with every release the default URL is the landing page: when a
    source URL answers with HTML, the newest link matching ``Monthly_detections_of_IBC_*.xlsx``
    is followed. A direct workbook URL can be given instead (``urls={"frontex_ibc": ...}``).
    Frontex's web firewall has been seen to refuse non-browser clients (HTTP 403); then
    download the workbook in a browser and pass its ``file://`` path.
``losses_personnel``, ``losses_equipment``
    Raw JSON of the GitHub repository PetroIvaniuk/2022-Ukraine-Russia-War-Dataset, branch
    ``main`` (``data/russia_losses_personnel.json``, ``data/russia_losses_equipment.json``).
``acled_pv_country_month``
    ACLED's aggregated "Number of political violence events by country-month-year" workbook.
    ACLED requires a (free) login for this download, so the default landing page usually
    shows no file link to an anonymous client and the update reports how to proceed: log in,
    download ``number_of_political_violence_events_by_country-month-year_as-of-<DDMonYYYY>.xlsx``
    and pass its URL or ``file://`` path. ACLED's terms of use apply to the file.

Every URL can be overridden per call (``urls=``) or by the environment variable
``HYBRIDFLOW_URL_<NAME>`` (e.g. ``HYBRIDFLOW_URL_ACLED_PV_COUNTRY_MONTH``); the call wins.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hybridflow import __version__
from hybridflow.errors import InputError, OfflineError
from hybridflow.io import atomic_open, sha256_file

__all__ = [
    "ACLED_LANDING_URL",
    "FRONTEX_LANDING_URL",
    "SOURCES",
    "ProgressCallback",
    "RemoteSource",
    "SourceResult",
    "UpdateReport",
    "Validator",
    "cached_files",
    "read_manifest",
    "update",
    "user_cache_dir",
    "validate_acled_pv",
    "validate_frontex_ibc",
    "validate_losses",
]

FRONTEX_LANDING_URL = (
    "https://www.frontex.europa.eu/what-we-do/monitoring-and-risk-analysis/migratory-map/"
)
ACLED_LANDING_URL = (
    "https://acleddata.com/aggregated/number-political-violence-events-country-month-year"
)
_LOSSES_RAW = (
    "https://raw.githubusercontent.com/PetroIvaniuk/2022-Ukraine-Russia-War-Dataset/main/data/"
)

MANIFEST_NAME = "manifest.json"
_MANIFEST_FORMAT = "hybridflow-cache-manifest"
_CHUNK = 64 * 1024
# A landing page is read whole to look for the link; cap it so a wrong URL pointing at a
# huge HTML file cannot eat memory.
_MAX_HTML_BYTES = 8 * 1024 * 1024
_ALLOWED_SCHEMES = ("http", "https", "file")
_HTML_TYPES = ("text/html", "application/xhtml+xml")

Validator = Callable[[Path], "str | None"]
"""Parse and validate a downloaded file; return its vintage (``"YYYY-MM-DD"``) or None.

Raise :class:`~hybridflow.errors.InputError` when the file is unusable.
"""

ProgressCallback = Callable[[str, int, "int | None"], None]
"""``progress(source_name, bytes_done, bytes_total_or_None)``, called as chunks arrive."""

Status = Literal["updated", "unchanged", "failed", "offline"]


# --------------------------------------------------------------------------- validators


def _vintage_from_result(result: Any) -> str | None:
    """A loader's declared vintage (``attrs['vintage']``), as text, if it has one."""
    attrs = getattr(result, "attrs", None)
    if isinstance(attrs, Mapping):
        for key in ("vintage", "as_of"):
            value = attrs.get(key)
            if value is not None and str(value).strip():
                return _iso_date(value)
    return None


def _latest_date(result: Any) -> str | None:
    """The latest ``date`` in a loader's frame (column or index), as ``YYYY-MM-DD``."""
    import pandas as pd

    values: Any = None
    if isinstance(result, pd.DataFrame) and "date" in result.columns:
        values = result["date"]
    elif isinstance(getattr(result, "index", None), pd.DatetimeIndex):
        values = result.index
    if values is None or len(values) == 0:
        return None
    latest = pd.to_datetime(pd.Series(values), errors="coerce").max()
    return None if pd.isna(latest) else f"{latest:%Y-%m-%d}"


def _iso_date(value: object) -> str:
    import pandas as pd

    if isinstance(value, dt.date | pd.Timestamp):
        return f"{pd.Timestamp(value):%Y-%m-%d}"
    return str(value).strip()


def validate_frontex_ibc(path: Path) -> str | None:
    """Validate a Frontex IBC workbook with the panel's loader; return its vintage."""
    from hybridflow.data.sources import frontex  # lazy: keep `import fetch` light

    return _vintage_from_result(frontex.read_ibc_workbook(path))


def validate_losses(path: Path) -> str | None:
    """Validate a losses JSON with the panel's loader; its vintage is the latest report date."""
    from hybridflow.data.sources import losses

    result = losses.read_losses_daily(path)
    return _vintage_from_result(result) or _latest_date(result)


def validate_acled_pv(path: Path) -> str | None:
    """Validate ACLED's political-violence country-month workbook with the panel's loader."""
    from hybridflow.data.sources import acled

    return _vintage_from_result(acled.read_pv_country_month_xlsx(path))


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class RemoteSource:
    """One upstream file that ``hybridflow data update`` keeps current.

    Parameters
    ----------
    name
        Registry key; also the cache sub-folder and the manifest key.
    url
        Default location: the file itself, or an HTML landing page when ``link_pattern``
        is set.
    filename
        Name of the cached copy (stable, whatever the upstream release is called).
    validator
        Parses and validates a downloaded copy; raises InputError when unusable and returns
        the data vintage or None.
    description
        One line for humans (CLI listings).
    link_pattern
        Regular expression for the file name of the data link to follow when ``url``
        answers with an HTML page (newest match wins; names sort by their release date).
    """

    name: str
    url: str
    filename: str
    validator: Validator
    description: str
    link_pattern: str | None = None


SOURCES: dict[str, RemoteSource] = {
    s.name: s
    for s in (
        RemoteSource(
            name="frontex_ibc",
            url=FRONTEX_LANDING_URL,
            filename="ibc.xlsx",
            validator=validate_frontex_ibc,
            description="Frontex monthly detections of illegal border crossings (workbook)",
            link_pattern=r"Monthly_detections_of_IBC_[A-Za-z0-9_\-]*\.xlsx",
        ),
        RemoteSource(
            name="losses_personnel",
            url=_LOSSES_RAW + "russia_losses_personnel.json",
            filename="russia_losses_personnel.json",
            validator=validate_losses,
            description="Russian personnel losses per Ukraine's General Staff (daily JSON)",
        ),
        RemoteSource(
            name="losses_equipment",
            url=_LOSSES_RAW + "russia_losses_equipment.json",
            filename="russia_losses_equipment.json",
            validator=validate_losses,
            description="Russian equipment losses per Ukraine's General Staff (daily JSON)",
        ),
        RemoteSource(
            name="acled_pv_country_month",
            url=ACLED_LANDING_URL,
            filename="number_of_political_violence_events_by_country-month-year.xlsx",
            validator=validate_acled_pv,
            description="ACLED political violence events by country-month (login required)",
            link_pattern=(
                r"number_of_political_violence_events_by_country-month-year[A-Za-z0-9_\-]*\.xlsx"
            ),
        ),
    )
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SourceResult:
    """What happened to one source during :func:`update`.

    ``status`` is ``"updated"`` (new file validated and in place), ``"unchanged"`` (same
    sha256 as the cached copy), ``"failed"`` (HTTP error, bad link, or the file did not
    validate; working data unchanged) or ``"offline"`` (the host could not be reached).
    """

    name: str
    status: Status
    url: str
    path: Path | None = None
    sha256: str | None = None
    bytes: int | None = None
    vintage: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True for ``updated`` and ``unchanged``."""
        return self.status in ("updated", "unchanged")

    def message(self) -> str:
        """One line for the CLI."""
        if self.status == "updated":
            vintage = f", vintage {self.vintage}" if self.vintage else ""
            return (
                f"{self.name}: updated ({self.bytes:,} bytes, sha256 "
                f"{(self.sha256 or '')[:12]}{vintage})"
            )
        if self.status == "unchanged":
            return f"{self.name}: up to date (sha256 {(self.sha256 or '')[:12]})"
        return f"{self.name}: {self.error}"


@dataclass(frozen=True)
class UpdateReport:
    """The outcome of :func:`update`, one :class:`SourceResult` per source, in order."""

    cache_dir: Path
    results: tuple[SourceResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when every source is updated or up to date."""
        return all(r.ok for r in self.results)

    def by_status(self, status: Status) -> list[SourceResult]:
        """The results with the given status."""
        return [r for r in self.results if r.status == status]

    def __getitem__(self, name: str) -> SourceResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def lines(self) -> list[str]:
        """One message line per source."""
        return [r.message() for r in self.results]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __rich__(self) -> Any:
        # Plain Text, not markup: messages hold brackets such as "[Errno 111]".
        from rich.text import Text

        return Text(str(self))


# --------------------------------------------------------------------------- cache


def user_cache_dir() -> Path:
    """The user cache folder for downloaded data.

    ``$HYBRIDFLOW_CACHE`` if set, else ``$XDG_CACHE_HOME/hybridflow``, else
    ``~/.cache/hybridflow``. The folder is not created here.
    """
    explicit = os.environ.get("HYBRIDFLOW_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hybridflow"


def read_manifest(cache_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The cache manifest's entries by source name (empty when there is no manifest yet).

    Each entry has ``name``, ``url``, ``source_url``, ``path`` (relative to the cache),
    ``remote_filename``, ``sha256``, ``bytes``, ``retrieved_at`` (UTC ISO 8601) and
    ``vintage`` (or None).

    Raises
    ------
    InputError
        If ``manifest.json`` exists but is not a hybridflow manifest.
    """
    path = Path(cache_dir) if cache_dir is not None else user_cache_dir()
    path = path / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            path, f"cannot read the cache manifest ({exc}); delete it and run the update again"
        ) from exc
    if (
        not isinstance(doc, dict)
        or doc.get("format") != _MANIFEST_FORMAT
        or not isinstance(doc.get("sources"), dict)
    ):
        raise InputError(
            path, "not a hybridflow cache manifest; delete it and run the update again"
        )
    return {str(k): dict(v) for k, v in doc["sources"].items() if isinstance(v, dict)}


def cached_files(cache_dir: str | Path | None = None) -> dict[str, Path]:
    """Validated downloaded files by source name, for loaders that prefer fresh data.

    Only sources recorded in the manifest whose file is present are listed.
    """
    root = Path(cache_dir) if cache_dir is not None else user_cache_dir()
    out: dict[str, Path] = {}
    for name, entry in read_manifest(root).items():
        rel = entry.get("path")
        if isinstance(rel, str):
            path = root / rel
            if path.is_file():
                out[name] = path
    return out


def _write_manifest(root: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    doc = {
        "format": _MANIFEST_FORMAT,
        "version": 1,
        "sources": {k: dict(entries[k]) for k in sorted(entries)},
    }
    with atomic_open(root / MANIFEST_NAME, "w") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True)
        fh.write("\n")


# --------------------------------------------------------------------------- network


class _NetworkError(Exception):
    """Internal: the host could not be reached (becomes an ``offline`` result)."""


class _FetchError(Exception):
    """Internal: the server answered, but not with a usable file (a ``failed`` result)."""


def _host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or parts.path or url


def _offline_message(url: str, reason: object) -> str:
    return (
        f"could not reach {_host(url)}: {reason}; you appear to be offline — working data unchanged"
    )


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.timeout | TimeoutError):
        return "timed out"
    text = str(reason) or type(reason).__name__
    return " ".join(text.split())


def _open(url: str, timeout: float) -> Any:
    """Open ``url``; map failures to _NetworkError (unreachable) or _FetchError (answered)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        raise _FetchError(f"unsupported URL scheme {scheme!r} in {url} (use http, https or file)")
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": f"hybridflow/{__version__} (+https://pypi.org/project/hybridflow)",
            "Accept": "*/*",
        },
    )
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (scheme checked)
    except urllib.error.HTTPError as exc:  # before URLError: it is a subclass
        exc.close()
        raise _FetchError(
            f"HTTP {exc.code} {exc.reason} from {url} — working data unchanged"
        ) from exc
    except urllib.error.URLError as exc:
        if scheme == "file":  # a missing local file is not "offline"
            raise _FetchError(f"cannot open {url}: {_reason(exc)}") from exc
        raise _NetworkError(_offline_message(url, _reason(exc))) from exc
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad status line
        raise _NetworkError(_offline_message(url, _reason(exc))) from exc


def _content_type(response: Any) -> str:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Type", "") if headers is not None else ""
    return str(value).split(";")[0].strip().lower()


def _content_length(response: Any) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _discover_link(source: RemoteSource, page_url: str, html: str) -> str:
    """The newest data link on a landing page, as an absolute URL."""
    assert source.link_pattern is not None
    pattern = re.compile(r"""href\s*=\s*["']([^"'<>\s]*?(""" + source.link_pattern + r"""))["']""")
    found: dict[str, str] = {}
    for m in pattern.finditer(html):
        found[m.group(2)] = urllib.parse.urljoin(page_url, m.group(1).replace("&amp;", "&"))
    if not found:
        hint = ""
        if source.name == "acled_pv_country_month":
            hint = (
                " (ACLED requires a login for this download: download the file in a browser "
                "and pass its URL or file:// path as urls={'acled_pv_country_month': ...} or "
                "HYBRIDFLOW_URL_ACLED_PV_COUNTRY_MONTH)"
            )
        else:
            hint = f" (pass the file's direct URL as urls={{'{source.name}': ...}})"
        raise _FetchError(
            f"no link matching {source.link_pattern!r} found on {page_url}{hint} "
            "— working data unchanged"
        )
    # Release names embed their date (YYYY_MM_DD for Frontex), so the largest name is newest.
    newest = max(found, key=_release_sort_key)
    return found[newest]


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _release_date(name: str) -> str | None:
    """The release date a Frontex or ACLED file name carries, as ``YYYY-MM-DD``."""
    m = re.search(r"(\d{4})_(\d{2})_(\d{2})", name)  # Monthly_detections_of_IBC_2025_06_05
    if m:
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    m = re.search(r"(\d{1,2})([A-Za-z]{3})(\d{4})", name)  # ..._as-of-27Feb2026
    if m and m.group(2).lower() in _MONTHS:
        return f"{m.group(3)}-{_MONTHS[m.group(2).lower()]:02d}-{int(m.group(1)):02d}"
    return None


def _release_sort_key(name: str) -> tuple[str, str]:
    return (_release_date(name) or "", name)


def _stream_to(
    response: Any,
    make_dest: Callable[[], Path],
    url: str,
    name: str,
    progress: ProgressCallback | None,
) -> int:
    total = _content_length(response)
    done = 0
    if progress is not None:
        progress(name, 0, total)
    try:
        with open(make_dest(), "wb") as out:
            while block := response.read(_CHUNK):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(name, done, total)
    except http.client.IncompleteRead as exc:  # server closed before Content-Length
        done += len(exc.partial)
        expected = f"{total:,}" if total is not None else "?"
        raise _FetchError(
            f"download from {url} was cut short ({done:,} of {expected} bytes) "
            "— working data unchanged"
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, socket.timeout | TimeoutError | ConnectionError):
            raise _NetworkError(
                f"download from {_host(url)} interrupted: {_reason(exc)} — working data unchanged"
            ) from exc
        raise
    if total is not None and done != total:
        raise _FetchError(
            f"download from {url} was cut short ({done:,} of {total:,} bytes) "
            "— working data unchanged"
        )
    return done


def _download(
    source: RemoteSource,
    url: str,
    response: Any,
    make_dest: Callable[[], Path],
    timeout: float,
    progress: ProgressCallback | None,
) -> tuple[str, int]:
    """Save the open ``response`` for ``url`` (following a landing page if needed).

    ``make_dest()`` is called only once data is about to be written and returns the path
    to write to. Returns the URL of the file actually fetched and its size in bytes.
    """
    with contextlib.closing(response):
        if _content_type(response) not in _HTML_TYPES:
            return url, _stream_to(response, make_dest, url, source.name, progress)
        if source.link_pattern is None:
            raise _FetchError(
                f"{url} returned an HTML page, not the data file — working data unchanged"
            )
        try:
            raw = response.read(_MAX_HTML_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            raise _NetworkError(_offline_message(url, _reason(exc))) from exc
        page_url = response.geturl() or url
    file_url = _discover_link(source, page_url, raw.decode("utf-8", errors="replace"))
    with contextlib.closing(_open(file_url, timeout)) as linked:
        if _content_type(linked) in _HTML_TYPES:
            raise _FetchError(
                f"{file_url} (linked from {url}) returned an HTML page, not the data file "
                "— working data unchanged"
            )
        return file_url, _stream_to(linked, make_dest, file_url, source.name, progress)


# --------------------------------------------------------------------------- update


def _resolve_sources(
    sources: Iterable[str | RemoteSource] | None,
) -> list[RemoteSource]:
    if sources is None:
        return list(SOURCES.values())
    if isinstance(sources, str):  # a lone name is an easy mistake; accept it
        sources = [sources]
    out: list[RemoteSource] = []
    for item in sources:
        if isinstance(item, RemoteSource):
            out.append(item)
        elif item in SOURCES:
            out.append(SOURCES[item])
        else:
            raise ValueError(f"unknown data source {item!r}; known: {', '.join(SOURCES)}")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"data source listed twice: {names}")
    return out


def _resolve_url(source: RemoteSource, urls: Mapping[str, str]) -> str:
    if source.name in urls:
        url = str(urls[source.name])
    else:
        url = os.environ.get(f"HYBRIDFLOW_URL_{source.name.upper()}") or source.url
    # A plain local path (a manually downloaded ACLED file, say) becomes a file:// URL;
    # a one-letter "scheme" is a Windows drive.
    if len(urllib.parse.urlsplit(url).scheme) <= 1:
        url = Path(url).expanduser().resolve().as_uri()
    return url


def _validation_message(exc: BaseException, tmp: Path, label: str) -> str:
    text = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
    # Name the download, not the throw-away temp path the validator saw.
    text = " ".join(text.replace(str(tmp), label).split())
    if not isinstance(exc, InputError) or label not in text:
        text = f"{label}: {text}"
    return f"did not validate, working data unchanged: {text}"


def update(
    sources: Iterable[str | RemoteSource] | None = None,
    *,
    cache_dir: str | Path | None = None,
    urls: Mapping[str, str] | None = None,
    timeout: float = 30,
    progress: ProgressCallback | None = None,
) -> UpdateReport:
    """Download the newest official data files into the cache, replacing only on success.

    For each source: download to a temporary file inside the cache folder, hash it, and if
    the content differs from the cached copy run the source's validator (the panel's own
    loader). Only a file that validates is moved into ``<cache>/<name>/<filename>`` (an
    atomic rename) and recorded in ``<cache>/manifest.json`` (rewritten atomically).

    Parameters
    ----------
    sources
        Source names from :data:`SOURCES` (or :class:`RemoteSource` objects, e.g. with a
        custom validator); default all, in registry order.
    cache_dir
        Cache folder; default :func:`user_cache_dir`.
    urls
        Per-source URL overrides (``{"frontex_ibc": "https://.../Monthly_detections_of_IBC_2026_08_04.xlsx"}``).
        ``http``, ``https`` and ``file`` URLs and plain local paths are accepted. Otherwise
        ``$HYBRIDFLOW_URL_<NAME>`` or the registry default is used.
    timeout
        Seconds allowed for connecting and for each read (not for the whole download).
    progress
        Optional ``progress(name, bytes_done, bytes_total_or_None)`` callback.

    Returns
    -------
    UpdateReport
        One result per source: ``updated``, ``unchanged`` (up to date), ``failed`` (HTTP
        error, no link found, or the file did not validate) or ``offline``.

    Raises
    ------
    OfflineError
        When no source's host could be reached (each attempted source is ``offline``);
        the message is the first source's, e.g. ``"could not reach HOST: ...; you appear
        to be offline — working data unchanged"``. Nothing is written.
    ValueError
        For an unknown source name or a ``urls`` key that names no requested source.
    InputError
        If an existing ``manifest.json`` is unreadable.
    """
    chosen = _resolve_sources(sources)
    urls = dict(urls or {})
    unknown = sorted(set(urls) - {s.name for s in chosen})
    if unknown:
        raise ValueError(
            f"urls given for sources not being updated: {', '.join(unknown)}; "
            f"updating: {', '.join(s.name for s in chosen)}"
        )
    root = Path(cache_dir) if cache_dir is not None else user_cache_dir()
    manifest = read_manifest(root)  # fail early on a broken manifest, before any download

    results: list[SourceResult] = []
    for source in chosen:
        url = _resolve_url(source, urls)
        results.append(_update_one(source, url, root, manifest, timeout, progress))

    if results and all(r.status == "offline" for r in results):
        raise OfflineError(results[0].error)
    return UpdateReport(cache_dir=root, results=tuple(results))


def _update_one(
    source: RemoteSource,
    url: str,
    root: Path,
    manifest: dict[str, dict[str, Any]],
    timeout: float,
    progress: ProgressCallback | None,
) -> SourceResult:
    final = root / source.name / source.filename
    tmp_dirs: list[Path] = []

    def make_dest() -> Path:
        # Nothing touches the disk until data arrives, so offline runs and error pages
        # write nothing. A temp *folder* in the cache (same filesystem, so the final rename
        # is atomic) holds the file under its real name: loaders check the extension.
        root.mkdir(parents=True, exist_ok=True)
        tmp_dirs.append(Path(tempfile.mkdtemp(prefix=f".download-{source.name}-", dir=root)))
        return tmp_dirs[-1] / source.filename

    try:
        try:
            response = _open(url, timeout)
            file_url, size = _download(source, url, response, make_dest, timeout, progress)
        except _NetworkError as exc:
            return SourceResult(source.name, "offline", url, error=str(exc))
        except _FetchError as exc:
            return SourceResult(source.name, "failed", url, error=str(exc))
        tmp = tmp_dirs[-1] / source.filename
        digest = sha256_file(tmp)

        old = manifest.get(source.name)
        if final.is_file() and sha256_file(final) == digest:
            if old is None or old.get("sha256") != digest:
                # File is current but the manifest lost track of it: repair the entry.
                old = _entry(source, url, file_url, digest, size, None)
                manifest[source.name] = old
                _write_manifest(root, manifest)
            vintage = old.get("vintage")
            return SourceResult(
                source.name, "unchanged", file_url, final, digest, size, vintage=vintage
            )

        label = f"{_remote_name(file_url) or source.filename} from {file_url}"
        try:
            # Loaders warn about data quirks (e.g. Frontex revisions) naming the temp path;
            # that is for when the panel reads the file, not for this check.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vintage = source.validator(tmp)
        except Exception as exc:  # any parse failure means "not usable", never "replace"
            return SourceResult(
                source.name, "failed", file_url, error=_validation_message(exc, tmp, label)
            )
        vintage = vintage or _release_date(_remote_name(file_url))

        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        manifest[source.name] = _entry(source, url, file_url, digest, size, vintage)
        _write_manifest(root, manifest)
        return SourceResult(source.name, "updated", file_url, final, digest, size, vintage)
    finally:
        for tmp_dir in tmp_dirs:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def _remote_name(url: str) -> str:
    """The file name at the end of a URL's path, percent-decoded."""
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name


def _entry(
    source: RemoteSource,
    source_url: str,
    file_url: str,
    digest: str,
    size: int,
    vintage: str | None,
) -> dict[str, Any]:
    return {
        "name": source.name,
        "url": file_url,
        "source_url": source_url,
        "path": f"{source.name}/{source.filename}",
        "remote_filename": _remote_name(file_url),
        "sha256": digest,
        "bytes": size,
        "retrieved_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "vintage": vintage,
    }
