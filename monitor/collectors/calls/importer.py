"""Imports of municipalities, agreements, call counts and cut-over tasks, and the call-count inbox.

What differs per kind of file (its columns, its row checks, how it is stored) is that kind's
module in `kinds/`; what follows is the same for every kind.

Each file is imported on its own and atomically: it is read and checked completely before
anything is written, then written in one transaction together with its ledger row (keyed by
the SHA-256 of its content, so the same content twice is a no-op) and its counters. A file
with any problem is rejected whole, with a report naming each bad line; the rejection is
recorded in a transaction of its own so the data stays untouched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from ... import partitions, runs
from ...db import is_postgres, session_factory, session_scope, utcnow
from ...models import ImportedFile
from ...settings import Settings
from . import loaders, records
from .kinds import KINDS, FileKind
from .parsing import Problem, Rejected, message, open_table

log = logging.getLogger(__name__)

REPORT_PROBLEMS = 1000  # listed in a report; the rest are counted
HTTP_TIMEOUT_SECONDS = 30.0
# A file of at least this many rows leaves its PostgreSQL connection to be replaced, not reused.
RECYCLE_AFTER_ROWS = 100_000
# Errors that mean the database refused a value of the file (the file is rejected); any other
# failure while writing (the database away, a full disk) leaves the file to be tried again.
VALUE_REFUSED = (DataError, OverflowError)


@dataclass
class FileResult:
    """What happened to one file: imported, unchanged (seen before), rejected or failed."""

    name: str
    kind: str
    outcome: str
    sha256: str = ""
    format: str = ""
    rows: int = 0
    stored: int = 0
    held: int = 0
    held_agreements: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seen_at: dt.datetime | None = None
    supplier: str | None = None  # the import token's name, for a file posted over HTTP

    @property
    def ok(self) -> bool:
        return self.outcome in ("imported", "unchanged")

    def report(self) -> str:
        """The operator's report: one summary line, then warnings and each problem, indented."""
        how = f" ({self.format})" if self.format else ""
        if self.outcome == "imported":
            lines = [f"{self.name}: imported {self.rows:,} rows{how}"]
        elif self.outcome == "unchanged":
            when = self.seen_at.strftime("%Y-%m-%d %H:%M UTC") if self.seen_at else "before"
            lines = [f"{self.name}: already imported on {when} (same content, sha256 {self.sha256[:12]}…); "
                     "nothing to do"]
        elif self.outcome == "rejected":
            lines = [f"{self.name}: rejected{how}, {len(self.problems):,} problem(s); nothing was imported"]
        else:
            lines = [f"{self.name}: failed; nothing was imported"]
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.held:
            shown = ", ".join(self.held_agreements[:5]) + (", …" if len(self.held_agreements) > 5 else "")
            lines.append(f"  warning: {self.held:,} count(s) held for {len(self.held_agreements):,} agreement(s) "
                         f"not known yet ({shown}); they are counted as soon as the agreement is imported")
        lines += [f"  {p}" for p in self.problems[:REPORT_PROBLEMS]]
        if len(self.problems) > REPORT_PROBLEMS:
            lines.append(f"  … and {len(self.problems) - REPORT_PROBLEMS:,} more problem(s)")
        return "\n".join(lines)


class _AlreadyImported(Exception):
    def __init__(self, prior: ImportedFile):
        self.prior = prior


def _prior_import(session: Session, kind: str, sha: str, other_than: int | None = None) -> ImportedFile | None:
    stmt = select(ImportedFile).where(ImportedFile.kind == kind, ImportedFile.sha256 == sha,
                                      ImportedFile.status == "imported")
    if other_than is not None:
        stmt = stmt.where(ImportedFile.id != other_than)
    return session.scalars(stmt.order_by(ImportedFile.id).limit(1)).first()


def import_content(engine: Engine, kind: str, name: str, data: bytes, now: dt.datetime | None = None,
                   supplier: str | None = None) -> FileResult:
    """Import one file's content of `kind`; never raises for bad content (see `FileResult.outcome`).

    `supplier` (the import token's name of a file posted over HTTP) is kept in the ledger row.
    """
    file_kind = KINDS.get(kind)
    if file_kind is None:
        raise ValueError(f"unknown import kind {kind!r}")
    now = now or utcnow()
    sha = hashlib.sha256(data).hexdigest()
    result = FileResult(name, kind, "imported", sha256=sha, supplier=supplier)
    factory = session_factory(engine)
    # Read what the checks need first, so the write transaction is short.
    with factory() as session:
        prior = _prior_import(session, kind, sha)
        if prior is not None:
            result.outcome, result.seen_at = "unchanged", prior.imported_at
            return result
        municipalities = loaders.known_municipalities(session) if file_kind.reads_municipalities else set()
    try:
        table = open_table(data, file_kind.required, file_kind.optional)
        result.format, result.warnings = table.format, table.warnings
        with records.no_gc():  # a million new tuples would otherwise trigger the collector thousands of times
            parsed = file_kind.parse(table, municipalities, now)
    except Rejected as exc:
        return _reject(factory, result, exc.problems, exc.rows, now)
    except Exception as exc:  # a parser crash is a bad file too: rejected, never retried in a loop
        log.exception("reading %s crashed the parser", name)
        return _reject(factory, result, [_crash_problem(exc)], 0, now)
    try:
        return _write(factory, file_kind, name, sha, parsed, result, now)
    except Rejected as exc:  # a check against the stored data (the write was rolled back)
        result.notes.clear()
        return _reject(factory, result, exc.problems, exc.rows, now)
    except partitions.PartitionsNotAllowed as exc:  # this user may not make a month: say who must
        log.warning("storing %s: %s", name, exc)
        result.notes.clear()
        return _reject(factory, result, [Problem(0, "", "", message("no_partition", detail=exc))], result.rows, now)
    except VALUE_REFUSED as exc:  # the database refused a value the checks let through: the file is bad
        log.exception("storing %s failed", name)
        result.notes.clear()
        return _reject(factory, result, [_crash_problem(exc)], result.rows, now)


def _crash_problem(exc: BaseException) -> Problem:
    """The report line for a file that crashed a parser or the database: where, when the error says."""
    line = getattr(exc, "lineno", None) or 0
    detail = f"{type(exc).__name__}: {exc}"[:300]
    return Problem(line if isinstance(line, int) else 0, "", "", message("unreadable", detail=detail))


def _reject(factory: Callable[[], Session], result: FileResult, problems: list[Problem], rows: int,
            now: dt.datetime) -> FileResult:
    result.outcome, result.problems, result.rows = "rejected", sorted(problems), rows
    _record_rejection(factory, result, now)
    return result


def _write(factory: Callable[[], Session], file_kind: FileKind[Any], name: str, sha: str, parsed: object,
           result: FileResult, now: dt.datetime) -> FileResult:
    kind = file_kind.name
    try:
        with session_scope(factory) as session:
            # The ledger row first: on SQLite this takes the write lock before anything is read.
            ledger = ImportedFile(kind=kind, name=name[:500], sha256=sha, status="imported", imported_at=now,
                                  supplier=result.supplier)
            session.add(ledger)
            session.flush()
            prior = _prior_import(session, kind, sha, other_than=ledger.id)
            if prior is not None:
                raise _AlreadyImported(prior)
            with records.no_gc():
                stored = file_kind.store(session, parsed, ledger.id, now)
            if stored.rows >= RECYCLE_AFTER_ROWS and is_postgres(session):
                # The server process that wrote this many rows stays slower for every query after
                # it (docs/performance.md, "Rating"): the pool opens a new one for whoever is next.
                session.connection().connection.invalidate(soft=True)
            result.rows, result.stored, result.held = stored.rows, stored.stored, stored.held
            result.held_agreements = stored.held_agreements
            result.notes.extend(stored.notes)
            ledger.rows, ledger.held_rows, ledger.report = result.rows, result.held, result.report()
            runs.increment(session, "import_rows_total", {"kind": kind, "outcome": "imported"}, result.stored)
            runs.increment(session, "import_rows_total", {"kind": kind, "outcome": "held"}, result.held)
    except _AlreadyImported as exc:
        result.outcome, result.seen_at = "unchanged", exc.prior.imported_at
    return result


def _record_rejection(factory: Callable[[], Session], result: FileResult, now: dt.datetime) -> None:
    """Keep the rejection in the ledger and the counters; the data itself stays as it was."""
    try:
        with session_scope(factory) as session:
            session.add(ImportedFile(kind=result.kind, name=result.name[:500], sha256=result.sha256,
                                     status="rejected", rows=result.rows, report=result.report(), imported_at=now,
                                     supplier=result.supplier))
            runs.increment(session, "import_rows_total", {"kind": result.kind, "outcome": "rejected"},
                             result.rows)
    except Exception:  # the report on screen or beside the file still says what was wrong
        log.exception("could not record the rejection of %s", result.name)


def _safe_import(engine: Engine, kind: str, name: str, data: bytes, now: dt.datetime) -> FileResult:
    """`import_content`, turning an unexpected failure (database down, a bug) into a failed result."""
    try:
        return import_content(engine, kind, name, data, now)
    except Exception as exc:
        log.exception("import of %s failed", name)
        result = FileResult(name, kind, "failed")
        result.notes.append(f"error: {type(exc).__name__}: {exc}"[:500])
        return result


def import_paths(engine: Engine, settings: Settings, kind: str, paths: list[Path],
                 now: dt.datetime | None = None,
                 each: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """`monitor import KIND FILE…`: import each file on its own; files stay where they are.

    Returns each file's result in the order given, and hands each to `each` as soon as it is
    known; a file that cannot be read is a failed result. Each file is written in its own
    transaction; the run record is finished after the last.
    """
    results = []
    with runs.recorded_run(session_factory(engine), "import", now) as run:
        for path in paths:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                result = FileResult(str(path), kind, "failed")
                result.notes.append(f"error: cannot read the file: {exc.strerror or exc}")
            else:
                result = _safe_import(engine, kind, str(path), data, run.started_at)
            results.append(result)
            if each is not None:
                each(result)
        run.report(all(r.ok for r in results), _summary(results), _details(results))
    return results


def _summary(results: list[FileResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    text = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no files"
    bad = [f"{r.name}: {r.outcome}" for r in results if not r.ok]
    return "; ".join([text, *bad])


def _details(results: list[FileResult], errors: int = 0) -> runs.FilesDetails:
    """Files per outcome and the files that were not imported, for the service-health page."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return runs.FilesDetails(files=counts, not_imported=[r.name for r in results if not r.ok][:20], errors=errors)


# --- the inbox ----------------------------------------------------------------------------

@dataclass
class InboxResult:
    """One pass over the inbox (and the URL source, when configured)."""

    files: list[FileResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(f.ok for f in self.files)


def inbox_files(inbox: Path) -> list[Path]:
    """Complete files waiting in `inbox`, in name order: dotfiles and ``*.tmp`` are still being written."""
    if not inbox.is_dir():
        return []
    return sorted((p for p in inbox.iterdir()
                   if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".tmp")),
                  key=lambda p: p.name)


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem-2.ext`… when a file of that name is already there."""
    target = folder / name
    n = 1
    while target.exists():
        n += 1
        stem, dot, ext = name.partition(".")
        target = folder / f"{stem}-{n}{dot}{ext}"
    return target


def _file_away(path: Path, result: FileResult) -> None:
    folder = path.parent / ("rejected" if result.outcome == "rejected" else "archive")
    folder.mkdir(exist_ok=True)
    target = _free_name(folder, path.name)
    os.replace(path, target)
    if result.outcome == "rejected":
        target.with_name(target.name + ".report.txt").write_text(result.report() + "\n", encoding="utf-8")


def process_inbox(engine: Engine, settings: Settings, now: dt.datetime | None = None,
                  client: httpx.Client | None = None) -> InboxResult:
    """Import every complete call-count file in the inbox, then the configured URL, if any.

    Imported (and already-imported) files move to ``archive/``, rejected ones to ``rejected/``
    with a report beside them; a file that failed for another reason (the database away)
    stays for the next pass. Never raises for bad files: it reports them. Each file is written
    in its own transaction; the run record is finished after the last.
    """
    with runs.recorded_run(session_factory(engine), "calls", now) as run:
        result = _process_inbox(engine, settings, run.started_at, client)
        run.report(result.ok, _summary(result.files) + "".join(f"; {e}" for e in result.errors),
                   _details(result.files, len(result.errors)))
    return result


def _process_inbox(engine: Engine, settings: Settings, now: dt.datetime, client: httpx.Client | None
                   ) -> InboxResult:
    result = InboxResult()
    inbox = settings.path(settings.collectors.calls.inbox)
    try:
        inbox.mkdir(parents=True, exist_ok=True)
        paths = inbox_files(inbox)
    except OSError as exc:
        result.errors.append(f"inbox {inbox}: {exc}")
        paths = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:  # taken away meanwhile, or unreadable: try again next pass
            result.errors.append(f"{path.name}: cannot read: {exc.strerror or exc}")
            continue
        file_result = _safe_import(engine, "calls", path.name, data, now)
        result.files.append(file_result)
        if file_result.outcome != "failed":
            try:
                _file_away(path, file_result)
            except OSError as exc:
                result.errors.append(f"{path.name}: cannot move out of the inbox: {exc}")
        log.log(logging.INFO if file_result.ok else logging.WARNING, "%s", file_result.report())
    url = settings.collectors.calls.url
    if url:
        _fetch(engine, url, now, client, result)
    return result


def _fetch(engine: Engine, url: str, now: dt.datetime, client: httpx.Client | None, result: InboxResult) -> None:
    """Import the CSV that `url` returns, through the same checks as an inbox file."""
    own = client is None
    client = client or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=True)
    try:
        response = client.get(url)
        response.raise_for_status()
        data = response.content
    except httpx.HTTPError as exc:
        result.errors.append(f"{url}: {type(exc).__name__}: {exc}")
        log.warning("calls source %s: %s", url, exc)
        return
    finally:
        if own:
            client.close()
    sha = hashlib.sha256(data).hexdigest()
    with session_factory(engine)() as session:
        rejected_before = session.scalar(select(ImportedFile.imported_at).where(
            ImportedFile.kind == "calls", ImportedFile.sha256 == sha, ImportedFile.name == url[:500],
            ImportedFile.status == "rejected").limit(1))
    if rejected_before is not None:  # the same bad content again: report it, do not count it twice
        result.errors.append(f"{url}: same content as rejected on {rejected_before:%Y-%m-%d %H:%M} UTC")
        return
    file_result = _safe_import(engine, "calls", url, data, now)
    result.files.append(file_result)
    log.log(logging.INFO if file_result.ok else logging.WARNING, "%s", file_result.report())

