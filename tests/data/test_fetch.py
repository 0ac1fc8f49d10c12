"""Tests for ``hybridflow.data.fetch`` against a local HTTP server on 127.0.0.1.

Only loopback addresses are ever contacted. Mechanics (atomic replace, manifest, offline,
HTTP errors, landing-page discovery) are tested with small stand-in validators so they do
not depend on the loaders' exact rules; the registry's own validators (the real loaders in
``hybridflow.data.sources``) are exercised on valid and corrupt fixtures separately.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import importlib
import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from hybridflow.data import fetch
from hybridflow.data.fetch import SOURCES, cached_files, read_manifest, update
from hybridflow.errors import InputError, OfflineError

# --------------------------------------------------------------------------- fixtures


def _write_ibc_workbook(path: Path, jan: int = 120, vintage: str = "03JUN25") -> Path:
    """A small workbook in the Frontex IBC layout."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Detections_of_IBC"
    ws.append(["Route", "Border type or inland", "Nationality", "JAN2024", "FEB2024"])
    ws.append(["Eastern Borders Route", "Land", "Syria", jan, 95])
    ws.append(["Eastern Borders Route", "Land", "Afghanistan", 40, 38])
    ws.append(["Central Mediterranean Route", "Sea", "Tunisia", 900, 700])
    notes = wb.create_sheet("Notes")
    notes.append(["Detections of illegal border-crossing"])
    notes.append([f"Source: FRAN data as of {vintage}"])
    wb.save(path)
    return path


def _write_losses_json(path: Path, days: int = 3) -> Path:
    records = [
        {
            "date": f"2022-02-{25 + i:02d}",
            "day": 2 + i,
            "personnel": 2800 + 500 * i,
            "personnel*": "about",
            "POW": 0,
        }
        for i in range(days)
    ]
    path.write_text(json.dumps(records, indent=4), encoding="utf-8")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        if self.path == "/cut-short.json":  # promises 1000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'[{"date": ')
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@dataclasses.dataclass
class Server:
    root: Path
    base: str
    httpd: http.server.ThreadingHTTPServer
    thread: threading.Thread

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=5)
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A ThreadingHTTPServer on 127.0.0.1 (ephemeral port) serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    host, port = httpd.server_address[:2]
    srv = Server(root, f"http://{host}:{port}", httpd, thread)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No URL overrides leak in from the environment running the tests.
    for name in SOURCES:
        monkeypatch.delenv(f"HYBRIDFLOW_URL_{name.upper()}", raising=False)
    return tmp_path / "cache"


def _closed_port_url() -> str:
    """A loopback URL on a port nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/ibc.xlsx"


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (for "nothing was touched" checks)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- stand-ins


def _standin_ibc(path: Path) -> str | None:
    """Parse like a Frontex loader: sheet, header, integer months; vintage from Notes."""
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise InputError(path, f"not a readable xlsx workbook ({type(exc).__name__})") from exc
    if "Detections_of_IBC" not in wb.sheetnames:
        raise InputError(path, "sheet 'Detections_of_IBC' not found")
    rows = list(wb["Detections_of_IBC"].iter_rows(values_only=True))
    if rows[0][:3] != ("Route", "Border type or inland", "Nationality"):
        raise InputError(path, "unexpected header", sheet="Detections_of_IBC", row=1)
    for r, row in enumerate(rows[1:], start=2):
        for value in row[3:]:
            if not isinstance(value, int):
                raise InputError(path, f"expected a count, got {value!r}", row=r)
    months = {"JAN": "01", "JUN": "06"}
    for (text,) in wb["Notes"].iter_rows(values_only=True, max_col=1):
        m = re.search(r"as of (\d{2})([A-Z]{3})(\d{2})", str(text))
        if m:
            return f"20{m.group(3)}-{months[m.group(2)]}-{m.group(1)}"
    return None


def _standin_losses(path: Path) -> str | None:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc.__class__.__name__})") from exc
    if not isinstance(records, list) or not all("date" in r for r in records):
        raise InputError(path, "expected a list of daily records with a 'date'")
    return max(r["date"] for r in records)


IBC = dataclasses.replace(SOURCES["frontex_ibc"], validator=_standin_ibc)
PERSONNEL = dataclasses.replace(SOURCES["losses_personnel"], validator=_standin_losses)


# --------------------------------------------------------------------------- cache paths


def test_user_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HYBRIDFLOW_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch.user_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("HYBRIDFLOW_CACHE")
    assert fetch.user_cache_dir() == tmp_path / "xdg" / "hybridflow"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fetch.user_cache_dir() == tmp_path / "home" / ".cache" / "hybridflow"


def test_registry_names_and_default_urls() -> None:
    assert list(SOURCES) == [
        "frontex_ibc",
        "losses_personnel",
        "losses_equipment",
        "acled_pv_country_month",
    ]
    assert SOURCES["frontex_ibc"].url == fetch.FRONTEX_LANDING_URL
    assert SOURCES["losses_personnel"].url == (
        "https://raw.githubusercontent.com/PetroIvaniuk/2022-Ukraine-Russia-War-Dataset/"
        "main/data/russia_losses_personnel.json"
    )
    assert SOURCES["losses_equipment"].url.endswith("/main/data/russia_losses_equipment.json")
    assert all(s.name == key for key, s in SOURCES.items())


# --------------------------------------------------------------------------- success


def test_success_writes_file_and_manifest(server: Server, cache: Path) -> None:
    src = _write_ibc_workbook(server.root / "Monthly_detections_of_IBC_2025_06_05.xlsx")
    seen: list[tuple[str, int, int | None]] = []

    report = update(
        [IBC],
        cache_dir=cache,
        urls={"frontex_ibc": server.url(src.name)},
        timeout=5,
        progress=lambda name, done, total: seen.append((name, done, total)),
    )

    result = report["frontex_ibc"]
    assert report.ok and result.status == "updated"
    final = cache / "frontex_ibc" / "ibc.xlsx"
    assert result.path == final
    assert final.read_bytes() == src.read_bytes()
    assert result.sha256 == _sha(src) and result.bytes == src.stat().st_size
    assert result.vintage == "2025-06-03"  # from the validator, not the file name

    entry = read_manifest(cache)["frontex_ibc"]
    assert entry["sha256"] == _sha(src)
    assert entry["bytes"] == src.stat().st_size
    assert entry["url"] == server.url(src.name)
    assert entry["remote_filename"] == src.name
    assert entry["path"] == "frontex_ibc/ibc.xlsx"
    assert entry["vintage"] == "2025-06-03"
    assert entry["retrieved_at"].endswith("Z") and entry["retrieved_at"][:2] == "20"
    assert cached_files(cache) == {"frontex_ibc": final}
    # Progress: starts at 0, ends at the full size, total known from Content-Length.
    assert seen[0] == ("frontex_ibc", 0, src.stat().st_size)
    assert seen[-1] == ("frontex_ibc", src.stat().st_size, src.stat().st_size)
    # No temp leftovers in the cache.
    assert sorted(p.name for p in cache.iterdir()) == ["frontex_ibc", "manifest.json"]
    assert "updated" in result.message() and _sha(src)[:12] in result.message()


def test_several_sources_share_one_manifest(server: Server, cache: Path) -> None:
    ibc = _write_ibc_workbook(server.root / "ibc.xlsx")
    losses = _write_losses_json(server.root / "russia_losses_personnel.json", days=4)
    report = update(
        [IBC, PERSONNEL],
        cache_dir=cache,
        urls={"frontex_ibc": server.url(ibc.name), "losses_personnel": server.url(losses.name)},
        timeout=5,
    )
    assert [r.status for r in report.results] == ["updated", "updated"]
    assert report["losses_personnel"].vintage == "2022-02-28"
    manifest = read_manifest(cache)
    assert {k: v["sha256"] for k, v in manifest.items()} == {
        "frontex_ibc": _sha(ibc),
        "losses_personnel": _sha(losses),
    }
    assert set(cached_files(cache)) == {"frontex_ibc", "losses_personnel"}
    assert str(report).splitlines() == report.lines()
    assert report.lines()[1].startswith("losses_personnel: updated (")


def test_identical_content_reports_up_to_date_without_rewrite(server: Server, cache: Path) -> None:
    src = _write_ibc_workbook(server.root / "ibc.xlsx")
    urls = {"frontex_ibc": server.url(src.name)}
    update([IBC], cache_dir=cache, urls=urls, timeout=5)
    final = cache / "frontex_ibc" / "ibc.xlsx"
    manifest = cache / "manifest.json"
    # Back-date both files so a rewrite would show in the mtimes.
    for p in (final, manifest):
        os.utime(p, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = _tree(cache)

    calls: list[Path] = []
    counting = dataclasses.replace(IBC, validator=lambda p: calls.append(p) or None)
    report = update([counting], cache_dir=cache, urls=urls, timeout=5)

    result = report["frontex_ibc"]
    assert result.status == "unchanged" and report.ok
    assert result.message() == f"frontex_ibc: up to date (sha256 {_sha(src)[:12]})"
    assert result.vintage == "2025-06-03"  # carried from the manifest
    assert calls == []  # same bytes: no need to re-validate
    assert _tree(cache) == before
    assert final.stat().st_mtime_ns == manifest.stat().st_mtime_ns == 10**18


def test_new_release_replaces_previous(server: Server, cache: Path) -> None:
    src = _write_ibc_workbook(server.root / "ibc.xlsx", jan=120)
    urls = {"frontex_ibc": server.url(src.name)}
    first = update([IBC], cache_dir=cache, urls=urls, timeout=5)["frontex_ibc"]
    _write_ibc_workbook(src, jan=121)
    second = update([IBC], cache_dir=cache, urls=urls, timeout=5)["frontex_ibc"]
    assert second.status == "updated" and second.sha256 != first.sha256
    assert read_manifest(cache)["frontex_ibc"]["sha256"] == _sha(src) == second.sha256
    cell = openpyxl.load_workbook(cache / "frontex_ibc" / "ibc.xlsx")["Detections_of_IBC"]["D2"]
    assert cell.value == 121


# --------------------------------------------------------------------------- bad files


def test_corrupt_file_keeps_previous_good_file_and_manifest(server: Server, cache: Path) -> None:
    src = _write_ibc_workbook(server.root / "ibc.xlsx")
    urls = {"frontex_ibc": server.url(src.name)}
    update([IBC], cache_dir=cache, urls=urls, timeout=5)
    before = _tree(cache)

    good = src.read_bytes()
    src.write_bytes(good[: len(good) // 2])  # truncated xlsx (a broken zip)
    report = update([IBC], cache_dir=cache, urls=urls, timeout=5)

    result = report["frontex_ibc"]
    assert result.status == "failed" and not report.ok
    assert result.error is not None
    assert result.error.startswith("did not validate, working data unchanged: ")
    assert "not a readable xlsx workbook" in result.error
    assert f"ibc.xlsx from {server.url('ibc.xlsx')}" in result.error
    assert ".download-" not in result.error  # names the download, not the temp path
    assert _tree(cache) == before  # old file, old manifest, no temp leftovers


def test_invalid_first_download_writes_no_data(server: Server, cache: Path) -> None:
    _write_ibc_workbook(server.root / "ibc.xlsx")
    wb = openpyxl.load_workbook(server.root / "ibc.xlsx")
    wb["Detections_of_IBC"]["D3"] = "n/a"
    wb.save(server.root / "ibc.xlsx")
    report = update([IBC], cache_dir=cache, urls={"frontex_ibc": server.url("ibc.xlsx")}, timeout=5)
    assert report["frontex_ibc"].status == "failed"
    assert "row 3: expected a count, got 'n/a'" in (report["frontex_ibc"].error or "")
    assert _tree(cache) == {}
    assert cached_files(cache) == {}


def test_http_404_is_a_clear_error(server: Server, cache: Path) -> None:
    url = server.url("Monthly_detections_of_IBC_2099_01_01.xlsx")
    report = update([IBC], cache_dir=cache, urls={"frontex_ibc": url}, timeout=5)
    result = report["frontex_ibc"]
    assert result.status == "failed"
    assert result.error == f"HTTP 404 File not found from {url} — working data unchanged"
    assert result.message() == f"frontex_ibc: {result.error}"
    assert not cache.exists()


def test_download_cut_short_keeps_previous_file(server: Server, cache: Path) -> None:
    losses = _write_losses_json(server.root / "p.json")
    update([PERSONNEL], cache_dir=cache, urls={"losses_personnel": server.url("p.json")})
    before = _tree(cache)
    url = server.url("cut-short.json")
    report = update([PERSONNEL], cache_dir=cache, urls={"losses_personnel": url}, timeout=5)
    result = report["losses_personnel"]
    assert result.status == "failed"
    assert result.error == (
        f"download from {url} was cut short (10 of 1,000 bytes) — working data unchanged"
    )
    assert _tree(cache) == before
    assert cached_files(cache)["losses_personnel"].read_bytes() == losses.read_bytes()


# --------------------------------------------------------------------------- offline


def test_closed_port_raises_offline_and_touches_nothing(server: Server, cache: Path) -> None:
    src = _write_ibc_workbook(server.root / "ibc.xlsx")
    update([IBC], cache_dir=cache, urls={"frontex_ibc": server.url(src.name)}, timeout=5)
    before = _tree(cache)

    with pytest.raises(OfflineError) as info:
        update([IBC], cache_dir=cache, urls={"frontex_ibc": _closed_port_url()}, timeout=5)
    message = str(info.value)
    assert message.startswith("could not reach 127.0.0.1: ")
    assert "refused" in message.lower()
    assert message.endswith("; you appear to be offline — working data unchanged")
    assert "\n" not in message
    assert _tree(cache) == before


def test_server_shut_down_raises_offline_on_fresh_cache(server: Server, cache: Path) -> None:
    _write_ibc_workbook(server.root / "ibc.xlsx")
    url = server.url("ibc.xlsx")
    server.stop()
    with pytest.raises(OfflineError, match=r"^could not reach 127\.0\.0\.1: .*offline"):
        update([IBC], cache_dir=cache, urls={"frontex_ibc": url}, timeout=5)
    assert not cache.exists()  # not even the cache folder was created


def test_silent_server_times_out_as_offline(cache: Path) -> None:
    # Accepts connections (via the backlog) but never answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/ibc.xlsx"
        with pytest.raises(OfflineError, match=r"could not reach 127\.0\.0\.1: timed out;"):
            update([IBC], cache_dir=cache, urls={"frontex_ibc": url}, timeout=0.3)
    assert not cache.exists()


def test_one_host_down_is_reported_not_raised(server: Server, cache: Path) -> None:
    losses = _write_losses_json(server.root / "personnel.json")
    report = update(
        [IBC, PERSONNEL],
        cache_dir=cache,
        urls={"frontex_ibc": _closed_port_url(), "losses_personnel": server.url(losses.name)},
        timeout=5,
    )
    assert [r.status for r in report.results] == ["offline", "updated"]
    assert "you appear to be offline" in (report["frontex_ibc"].error or "")
    assert set(cached_files(cache)) == {"losses_personnel"}


# --------------------------------------------------------------------------- landing page


def test_landing_page_link_is_discovered_newest_first(server: Server, cache: Path) -> None:
    assets = server.root / "assets" / "Migratory_routes"
    (assets / "2025").mkdir(parents=True)
    (assets / "2024").mkdir()
    newest = _write_ibc_workbook(assets / "2025" / "Monthly_detections_of_IBC_2025_06_05.xlsx")
    _write_ibc_workbook(assets / "2024" / "Monthly_detections_of_IBC_2024_12_04.xlsx", jan=7)
    (server.root / "migratory-map").mkdir()
    (server.root / "migratory-map" / "index.html").write_text(
        "<html><body><a href='/assets/Migratory_routes/2024/Monthly_detections_of_IBC_2024_12_04.xlsx'>old</a>"
        '<a class="x" href="../assets/Migratory_routes/2025/Monthly_detections_of_IBC_2025_06_05.xlsx">'
        "Monthly detections</a></body></html>",
        encoding="utf-8",
    )
    landing = server.url("migratory-map/")
    no_vintage = dataclasses.replace(IBC, validator=lambda p: None)

    report = update([no_vintage], cache_dir=cache, urls={"frontex_ibc": landing}, timeout=5)

    result = report["frontex_ibc"]
    file_url = server.url("assets/Migratory_routes/2025/Monthly_detections_of_IBC_2025_06_05.xlsx")
    assert result.status == "updated" and result.url == file_url
    assert result.sha256 == _sha(newest)
    assert result.vintage == "2025-06-05"  # validator gave none: release date from the name
    entry = read_manifest(cache)["frontex_ibc"]
    assert entry["source_url"] == landing and entry["url"] == file_url
    assert entry["remote_filename"] == "Monthly_detections_of_IBC_2025_06_05.xlsx"


def test_landing_page_without_link_explains_acled_login(server: Server, cache: Path) -> None:
    (server.root / "acled.html").write_text(
        "<html><body><a href='/user/login'>Log in to download</a></body></html>",
        encoding="utf-8",
    )
    acled = dataclasses.replace(SOURCES["acled_pv_country_month"], validator=lambda p: None)
    report = update(
        [acled],
        cache_dir=cache,
        urls={"acled_pv_country_month": server.url("acled.html")},
        timeout=5,
    )
    error = report["acled_pv_country_month"].error or ""
    assert report["acled_pv_country_month"].status == "failed"
    assert "no link matching" in error and "ACLED requires a login" in error
    assert "HYBRIDFLOW_URL_ACLED_PV_COUNTRY_MONTH" in error
    assert not cache.exists()


def test_html_for_a_source_without_landing_page_is_rejected(server: Server, cache: Path) -> None:
    (server.root / "oops.html").write_text("<html>rate limited</html>", encoding="utf-8")
    report = update(
        [PERSONNEL],
        cache_dir=cache,
        urls={"losses_personnel": server.url("oops.html")},
        timeout=5,
    )
    assert report["losses_personnel"].status == "failed"
    assert "returned an HTML page, not the data file" in (report["losses_personnel"].error or "")


# --------------------------------------------------------------------------- arguments


def test_env_url_override_and_local_path(
    server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    losses = _write_losses_json(server.root / "p.json")
    monkeypatch.setenv("HYBRIDFLOW_URL_LOSSES_PERSONNEL", server.url(losses.name))
    assert update([PERSONNEL], cache_dir=cache, timeout=5)["losses_personnel"].status == "updated"

    # An explicit argument beats the environment; a plain path becomes a file:// URL.
    local = _write_losses_json(tmp_path / "manual.json", days=2)
    result = update([PERSONNEL], cache_dir=cache, urls={"losses_personnel": str(local)})[
        "losses_personnel"
    ]
    assert result.status == "updated" and result.url == local.resolve().as_uri()
    assert result.vintage == "2022-02-26"
    assert read_manifest(cache)["losses_personnel"]["sha256"] == _sha(local)


def test_missing_local_file_is_failed_not_offline(cache: Path, tmp_path: Path) -> None:
    report = update([PERSONNEL], cache_dir=cache, urls={"losses_personnel": str(tmp_path / "no")})
    assert report["losses_personnel"].status == "failed"
    assert (report["losses_personnel"].error or "").startswith("cannot open file://")


def test_bad_arguments(cache: Path) -> None:
    with pytest.raises(ValueError, match="unknown data source 'frontex'"):
        update(["frontex"], cache_dir=cache)
    with pytest.raises(ValueError, match="urls given for sources not being updated: acled"):
        update([IBC], cache_dir=cache, urls={"acled": "http://127.0.0.1:9/x"})
    report = update([IBC], cache_dir=cache, urls={"frontex_ibc": "ftp://127.0.0.1/x.xlsx"})
    assert "unsupported URL scheme 'ftp'" in (report["frontex_ibc"].error or "")


def test_broken_manifest_is_an_input_error(cache: Path) -> None:
    cache.mkdir()
    (cache / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"manifest\.json: cannot read the cache manifest"):
        cached_files(cache)
    with pytest.raises(InputError, match="delete it and run the update again"):
        update([IBC], cache_dir=cache, urls={"frontex_ibc": _closed_port_url()})


# --------------------------------------------------------------------------- real loaders


def _loader(module: str, func: str) -> None:
    """Skip when the panel's loader is not in the tree yet (written in parallel)."""
    try:
        mod = importlib.import_module(f"hybridflow.data.sources.{module}")
    except ImportError:
        pytest.skip(f"hybridflow.data.sources.{module} not present yet")
    if not hasattr(mod, func):
        pytest.skip(f"hybridflow.data.sources.{module}.{func} not present yet")


def test_registry_validator_accepts_frontex_fixture(server: Server, cache: Path) -> None:
    _loader("frontex", "read_ibc_workbook")
    src = _write_ibc_workbook(server.root / "Monthly_detections_of_IBC_2025_06_05.xlsx")
    report = update(["frontex_ibc"], cache_dir=cache, urls={"frontex_ibc": server.url(src.name)})
    assert report["frontex_ibc"].status == "updated", report["frontex_ibc"].error
    assert report["frontex_ibc"].vintage in ("2025-06-03", "2025-06-05")


def test_registry_validator_rejects_truncated_workbook(server: Server, cache: Path) -> None:
    _loader("frontex", "read_ibc_workbook")
    src = _write_ibc_workbook(server.root / "ibc.xlsx")
    src.write_bytes(src.read_bytes()[:700])
    report = update(["frontex_ibc"], cache_dir=cache, urls={"frontex_ibc": server.url(src.name)})
    assert report["frontex_ibc"].status == "failed"
    assert "did not validate, working data unchanged" in (report["frontex_ibc"].error or "")
    assert cached_files(cache) == {}


def test_registry_validator_accepts_losses_fixture(server: Server, cache: Path) -> None:
    _loader("losses", "read_losses_daily")
    src = _write_losses_json(server.root / "russia_losses_personnel.json", days=4)
    report = update(
        ["losses_personnel"], cache_dir=cache, urls={"losses_personnel": server.url(src.name)}
    )
    result = report["losses_personnel"]
    assert result.status == "updated", result.error
    assert result.vintage == "2022-02-28"


def test_registry_validator_rejects_bad_losses_json(server: Server, cache: Path) -> None:
    _loader("losses", "read_losses_daily")
    (server.root / "bad.json").write_text('[{"date": "2022-02-25", "day": 2, "pers', "utf-8")
    report = update(
        ["losses_personnel"], cache_dir=cache, urls={"losses_personnel": server.url("bad.json")}
    )
    assert report["losses_personnel"].status == "failed"
    assert cached_files(cache) == {}


def test_real_frontex_workbook_from_local_path(raw_dir: Path, cache: Path) -> None:
    _loader("frontex", "read_ibc_workbook")
    workbook = raw_dir / "frontex" / "ibc.xlsx"
    report = update(["frontex_ibc"], cache_dir=cache, urls={"frontex_ibc": str(workbook)})
    result = report["frontex_ibc"]
    assert result.status == "updated", result.error
    # sha256 and vintage as documented in raw/frontex/PROVENANCE.md
    assert result.sha256 == "878d707850321797cc584ced3876d46889f6ad93943c35f577790f22f98df8ee"
    assert result.bytes == 1_534_939
    assert result.vintage == "2025-06-03"
    assert read_manifest(cache)["frontex_ibc"]["url"] == workbook.resolve().as_uri()


def _write_acled_workbook(
    path: Path, header: tuple[str, ...] = ("COUNTRY", "MONTH", "YEAR", "EVENTS")
) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(header))
    ws.append(["Russia", "January", 2024, 310])
    ws.append(["Russia", "February", 2024, 295])
    ws.append(["Ukraine", "January", 2024, 2900])
    wb.save(path)
    return path


def test_registry_acled_newest_release_from_landing_page(server: Server, cache: Path) -> None:
    _loader("acled", "read_pv_country_month_xlsx")
    stem = "number_of_political_violence_events_by_country-month-year_as-of-"
    for folder, as_of in (("2026-02", "27Feb2026"), ("2026-03", "13Mar2026")):
        (server.root / folder).mkdir()
        _write_acled_workbook(server.root / folder / f"{stem}{as_of}.xlsx")
    # "13Mar2026" sorts before "27Feb2026" as text: the release date must decide.
    (server.root / "aggregated.html").write_text(
        f'<a href="2026-02/{stem}27Feb2026.xlsx">Feb</a> <a href="2026-03/{stem}13Mar2026.xlsx">Mar</a>',
        encoding="utf-8",
    )
    report = update(
        ["acled_pv_country_month"],
        cache_dir=cache,
        urls={"acled_pv_country_month": server.url("aggregated.html")},
    )
    result = report["acled_pv_country_month"]
    assert result.status == "updated", result.error
    assert result.url == server.url(f"2026-03/{stem}13Mar2026.xlsx")
    assert result.vintage == "2026-03-13"  # the cached name is stable; the release name dates it
    assert (
        cached_files(cache)["acled_pv_country_month"].name
        == SOURCES["acled_pv_country_month"].filename
    )


def test_registry_acled_rejects_missing_column(server: Server, cache: Path) -> None:
    _loader("acled", "read_pv_country_month_xlsx")
    _write_acled_workbook(server.root / "pv.xlsx", header=("COUNTRY", "MONTH", "YEAR", "N"))
    report = update(
        ["acled_pv_country_month"],
        cache_dir=cache,
        urls={"acled_pv_country_month": server.url("pv.xlsx")},
    )
    error = report["acled_pv_country_month"].error or ""
    assert report["acled_pv_country_month"].status == "failed"
    assert f"pv.xlsx from {server.url('pv.xlsx')}" in error and "'EVENTS'" in error
    assert cached_files(cache) == {}


def test_real_losses_and_acled_files_from_local_paths(raw_dir: Path, cache: Path) -> None:
    _loader("losses", "read_losses_daily")
    _loader("acled", "read_pv_country_month_xlsx")
    acled_name = "number_of_political_violence_events_by_country-month-year_as-of-27Feb2026.xlsx"
    urls = {
        "losses_personnel": str(raw_dir / "losses" / "russia_losses_personnel.json"),
        "losses_equipment": str(raw_dir / "losses" / "russia_losses_equipment.json"),
        "acled_pv_country_month": str(raw_dir / "acled" / acled_name),
    }
    report = update(list(urls), cache_dir=cache, urls=urls)
    assert report.ok, report.lines()
    # sha256 values as documented in the folders' PROVENANCE.md
    assert {r.name: (r.sha256, r.vintage) for r in report.results} == {
        "losses_personnel": (
            "8a11a5e9d7016ac45079f9a7fc82713003549676737597a72c23b6b13b3463b2",
            "2026-08-08",
        ),
        "losses_equipment": (
            "8c3adf7e039b090560c6ded5071e4a0eb43bcebae825fd1b5c71c073c0980cba",
            "2026-08-08",
        ),
        "acled_pv_country_month": (
            "11faf63e5d4a64d773d39a87e7f3c0797d98904d3bb06d3d9d46ed6e22e3c37d",
            "2026-02-27",
        ),
    }
