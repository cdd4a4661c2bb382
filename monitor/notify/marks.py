"""The sent mark: each mail's row marked `sent` in a transaction of its own, one round trip.

This is the per-mail cost that keeps a crash from doubling more than the one mail in flight.
A mark is started once the next mail is built, just before its envelope goes, and `Sender`
(queue.py) waits for it after the server has taken that envelope and before the message goes:
the round trip overlaps the envelope's, and at most one mail is ever sent and not yet marked.

How a mark overlaps depends on the database:

- PostgreSQL: the UPDATE, prepared once, is written to the server at once and its answer read
  when it is wanted (libpq's asynchronous calls on the marker's own autocommit connection): no
  thread, so nothing competes with the sender for the GIL. The commits do not wait for the WAL
  flush (`synchronous_commit = off` on this connection only): a database crash may forget the
  last marks, and those mails are then sent once more, as after a process crash, with their
  Message-ID unchanged.
- SQLite lives in this process, so its UPDATE runs on a thread of its own, on a connection
  that thread opens and closes.
"""

from __future__ import annotations

import datetime as dt
import select
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from ..bulk import storage_text
from ..db import is_postgres
from ..models import Delivery, Mail

if TYPE_CHECKING:
    from psycopg.pq.abc import PGconn, PGresult

Outgoing = type[Delivery] | type[Mail]

TABLES = tuple(model.__tablename__ for model in (Delivery, Mail))


def _statement(table: str, mark: str) -> str:
    return (f"UPDATE {table} SET status = 'sent', sent_at = {mark.format(1)}, last_error = NULL "
            f"WHERE id = {mark.format(2)} AND status = 'sending'")


class Marking(Protocol):
    """A mark under way: `result()` waits for it; True when the row was marked, False when it was gone."""

    def result(self) -> bool: ...


class _Pending:
    """A mark written to PostgreSQL; its answer is read on the first `result()` (or before the next mark)."""

    def __init__(self, read: Callable[[], bool]) -> None:
        self._read = read
        self._outcome: bool | None = None
        self._error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        self._error = error

    def settle(self) -> None:
        """Read the answer if not done yet; an error is kept for `result`."""
        if self._outcome is None and self._error is None:
            try:
                self._outcome = self._read()
            except Exception as exc:
                self._error = exc

    def result(self) -> bool:
        self.settle()
        if self._error is not None:
            raise self._error
        return bool(self._outcome)


class SentMarker:
    """Marks sent rows, one prepared UPDATE per row, on one autocommit connection of its own.

    No ORM, no BEGIN/COMMIT of its own (each UPDATE is its own transaction), and no SQLAlchemy
    between the call and the driver: the statement is plain SQL, the instant bound as
    SQLAlchemy stores it. `submit` starts a mark; `close` finishes the one under way and gives
    the connection back as it was found.
    """

    def __init__(self, engine: Engine) -> None:
        self.postgres = is_postgres(engine)
        self.pending: _Pending | None = None
        if self.postgres:
            self.thread: ThreadPoolExecutor | None = None
            self._open(engine)
            return
        # One thread owns the SQLite connection from opening to closing: every UPDATE runs there, in order.
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sent-marker")
        try:
            self.thread.submit(self._open, engine).result()
        except BaseException:
            self.thread.shutdown()
            raise

    def _open(self, engine: Engine) -> None:
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            driver: Any = self.conn.connection.driver_connection  # already in autocommit mode
            if self.postgres:
                self.conn.exec_driver_sql("SET synchronous_commit = off")
                self.encoding: str = driver.info.encoding
                self.pgconn: PGconn = driver.pgconn
                for table in TABLES:
                    self._check(self.pgconn.prepare(self._name(table), _statement(table, "${}").encode()))
                self.poll = select.poll()
                self.poll.register(self.pgconn.socket, select.POLLIN)
            else:
                self.stmts = {table: _statement(table, "?") for table in TABLES}
                self.cursor = driver.cursor()
        except BaseException:
            self.conn.close()
            raise

    @staticmethod
    def _name(table: str) -> bytes:
        return f"monitor_sent_{table}".encode()

    def submit(self, table: Outgoing, row_id: int, now: dt.datetime) -> Marking:
        """Start marking one row sent; the result is `sent`'s. An error shows in the result, never here."""
        if self.thread is not None:
            return self.thread.submit(self.sent, table, row_id, now)
        if self.pending is not None:  # one statement at a time on the connection
            self.pending.settle()
        pending = self.pending = _Pending(self._answer)
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ").encode()
        try:
            self.pgconn.send_query_prepared(self._name(table.__tablename__), [stamp, str(row_id).encode()])
        except Exception as exc:
            pending.fail(exc)
        return pending

    def sent(self, table: Outgoing, row_id: int, now: dt.datetime) -> bool:
        """Mark one row sent and wait; False when it is gone or no longer this run's (cancelled or purged meanwhile).

        On SQLite this runs on the marker's thread (`submit`).
        """
        if self.thread is None:
            return self.submit(table, row_id, now).result()
        self.cursor.execute(self.stmts[table.__tablename__], (storage_text(now), row_id))
        return bool(self.cursor.rowcount == 1)

    def _answer(self) -> bool:
        """Read the answer to the mark written last (waiting, without the GIL, until it is there)."""
        results: list[PGresult] = []
        while True:
            self.pgconn.consume_input()
            while self.pgconn.is_busy():
                self.poll.poll()
                self.pgconn.consume_input()
            result = self.pgconn.get_result()
            if result is None:
                break
            results.append(result)
        for result in results:
            self._check(result)
        return len(results) == 1 and results[0].command_tuples == 1

    def _check(self, result: PGresult) -> None:
        from psycopg.errors import error_from_result
        from psycopg.pq import ExecStatus

        if result.status != ExecStatus.COMMAND_OK:
            raise error_from_result(result, encoding=self.encoding)

    def _close(self) -> None:
        try:
            if self.postgres:
                if self.pending is not None:
                    self.pending.settle()
                for table in TABLES:
                    self.conn.exec_driver_sql(f"DEALLOCATE {self._name(table).decode()}")
                self.conn.exec_driver_sql("RESET synchronous_commit")
            else:
                self.cursor.close()
        except BaseException:
            self.conn.invalidate()  # not back into the pool with our statements or setting
            raise
        finally:
            self.conn.close()

    def close(self) -> None:
        """Finish the mark under way and give the connection back as it was found."""
        if self.thread is None:
            self._close()
            return
        try:
            self.thread.submit(self._close).result()
        finally:
            self.thread.shutdown()
