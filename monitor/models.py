"""The data model (SQLAlchemy 2.0 typed style). No commits in here: callers own sessions.

Instants are stored as UTC (`UTCDateTime`); Copenhagen calendar days as `Date`.
Call counts live in two tables. `agreement_days` holds one row per agreement and Copenhagen day:
the daily count as imported where one exists ("daily"), else the sum of that day's hours, which
the import's transaction keeps up to date (`monitor.daytable`); every reader of days uses it.
`hourly_calls` holds the hour buckets as imported, each with its Copenhagen day.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, UTCDateTime, utcnow

AGREEMENT_STATUSES = ("active", "pending", "rejected", "inactive")


class Municipality(Base):
    __tablename__ = "municipalities"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(100), default="")
    population: Mapped[int | None] = mapped_column(Integer)
    population_date: Mapped[dt.date | None] = mapped_column(Date)
    # Adgangsstyring for brugere implemented: True, False, or None when unknown.
    user_access_control: Mapped[bool | None] = mapped_column(Boolean)


class ItSystem(Base):
    """An anvendersystem: the municipal IT system that makes the calls."""

    __tablename__ = "it_systems"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    supplier: Mapped[str | None] = mapped_column(String(200))


class Service(Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)  # e.g. SF1520
    name: Mapped[str | None] = mapped_column(String(200))


class Agreement(Base):
    """A serviceaftale, upserted by its ServiceAgreementUUID."""

    __tablename__ = "agreements"
    __table_args__ = (Index("ix_agreements_municipality_status", "municipality_code", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"))
    it_system_uuid: Mapped[str] = mapped_column(ForeignKey("it_systems.uuid"))
    status: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    services: Mapped[list[AgreementService]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", lazy="selectin")
    it_system: Mapped[ItSystem] = relationship(lazy="joined")


class AgreementService(Base):
    __tablename__ = "agreement_services"

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), primary_key=True)

    agreement: Mapped[Agreement] = relationship(back_populates="services")


class AgreementEvent(Base):
    """History: the agreement as seen at a time, kept whenever its status or services changed."""

    __tablename__ = "agreement_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20))
    services: Mapped[str] = mapped_column(Text)  # sorted, comma-separated service ids
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    imported_file_id: Mapped[int | None] = mapped_column(ForeignKey("imported_files.id"))


def daily_key_order(row: tuple[Any, ...]) -> tuple[Any, Any]:
    """Sort key of (agreement_id, day, …) rows in `agreement_days`' key order, (day, agreement_id):
    rows written in it are appended at the right edge of the table's B-tree."""
    return row[1], row[0]


class HourlyCallCount(Base):
    """One hour's calls under one agreement; `hour` is the bucket's start in UTC.

    On PostgreSQL partitioned by month on `hour` (`monitor.partitions`). No foreign key:
    agreements are never deleted (a trigger refuses it), the import checks its ids in one query,
    and `monitor db check` counts orphans (docs/operations.md).
    """

    __tablename__ = "hourly_calls"
    __table_args__ = (Index("ix_hourly_calls_hour", "hour"), Index("ix_hourly_calls_day", "day"))

    agreement_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)  # the Copenhagen calendar day the hour starts in
    calls: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int | None] = mapped_column(BigInteger)


class AgreementDay(Base):
    """One agreement's calls on one Copenhagen day: its daily count when one exists, else the sum
    of its hours that day. The rating, the charts and the probes for missing days read only this.

    A row with `daily` true *is* the supplier's daily count for that day, with its errors: the
    import of daily counts writes it and nothing else, and hours of that day change nothing.
    A row with `daily` false is derived from `hourly_calls`, in the transaction that writes
    them (`monitor.daytable`); its `errors` is NULL.

    The key starts with the day, so it is also the day index the rating and the probes for
    missing days read through; on SQLite the table is stored WITHOUT ROWID, so the rows live in
    that key's B-tree (docs/performance.md, "The layout of the daily counts"). No other index: one
    by (agreement_id, day, calls) (migration 0023, dropped by 0024) took every row an import
    wrote out of order and cost an import of daily counts more than all else on the server. No
    foreign key, as `HourlyCallCount`.
    """

    __tablename__ = "agreement_days"
    __table_args__ = (PrimaryKeyConstraint("day", "agreement_id"), {"sqlite_with_rowid": False})

    day: Mapped[dt.date] = mapped_column(Date)
    agreement_id: Mapped[int] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int | None] = mapped_column(BigInteger)
    daily: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AgreementWeek(Base):
    """One agreement's calls in one week (seven days from a Monday, numbered from 1 January 1900):
    the sum of its day rows, for the rating (`monitor.weektable`). Trusted only while the week is
    not in `agreement_weeks_stale`; triggers on `agreement_days` mark it (migration 0026)."""

    __tablename__ = "agreement_weeks"
    __table_args__ = (PrimaryKeyConstraint("week", "agreement_id"), {"sqlite_with_rowid": False})

    week: Mapped[int] = mapped_column(Integer)
    agreement_id: Mapped[int] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(BigInteger)


class StaleWeek(Base):
    """A week whose `agreement_weeks` rows may be out of date: read from its day rows instead."""

    __tablename__ = "agreement_weeks_stale"
    __table_args__ = ({"sqlite_with_rowid": False},)

    week: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class HeldCallCount(Base):
    """A call count whose agreement is not known yet: held, and counted once it arrives."""

    __tablename__ = "held_calls"
    __table_args__ = (UniqueConstraint("agreement_uuid", "granularity", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_uuid: Mapped[str] = mapped_column(String(36), index=True)
    granularity: Mapped[str] = mapped_column(String(4))  # "day" | "hour"
    period_start: Mapped[str] = mapped_column(String(40))  # ISO date, or UTC instant for hours
    calls: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int | None] = mapped_column(BigInteger)
    imported_file_id: Mapped[int | None] = mapped_column(ForeignKey("imported_files.id"))
    held_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportedFile(Base):
    """The import ledger: one row per file content seen, accepted or rejected."""

    __tablename__ = "imported_files"
    __table_args__ = (Index("ix_imported_files_kind_sha256", "kind", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # agreements | calls | municipalities | tasks
    name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # imported | rejected
    rows: Mapped[int] = mapped_column(Integer, default=0)
    held_rows: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The import token's name (the supplier) for a file posted over HTTP; NULL for inbox and command line.
    supplier: Mapped[str | None] = mapped_column(String(100))


class ImportToken(Base):
    """A supplier's bearer token for POST /api/v1/imports/calls (`monitor tokens`).

    Only the SHA-256 of the token is kept, so the table alone lets nobody post a file.
    """

    __tablename__ = "import_tokens"
    # AUTOINCREMENT: SQLite would otherwise give a removed token's id to the next one added.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CutoverTask(Base):
    """One of the "opgaver ved skift af driftcenter" for a municipality."""

    __tablename__ = "cutover_tasks"

    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), primary_key=True)
    task: Mapped[str] = mapped_column(String(200), primary_key=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[dt.date | None] = mapped_column(Date)


class CalendarEvent(Base):
    """The times /kalender.ics last published for an event, so that SEQUENCE rises when they change."""

    __tablename__ = "calendar_events"

    uid: Mapped[str] = mapped_column(String(200), primary_key=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CutoverAcknowledgement(Base):
    """An operator's note that a red or yellow municipality, or one silent agreement, is known.

    Rows are never deleted: `ended_at` is set when the acknowledgement stops holding (the
    municipality turned green or worse, the agreement called again, or `ack_hours` passed).
    """

    __tablename__ = "cutover_acknowledgements"
    __table_args__ = (Index("ix_cutover_acknowledgements_municipality", "municipality_code", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"))
    agreement_uuid: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20))  # the municipality's status when acknowledged
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Component(Base):
    __tablename__ = "components"

    slug: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)


class NoticeSource(Base):
    """A configured status-page source and its polling state."""

    __tablename__ = "notice_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # feed | statuspage
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    backfilled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # first successful poll
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class Notice(Base):
    """An incident or a scheduled maintenance, keyed by (source, upstream id)."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("source_id", "upstream_id"), Index("ix_notices_status", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("notice_sources.id", ondelete="CASCADE"))
    upstream_id: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))  # incident | maintenance
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(30))
    impact: Mapped[str | None] = mapped_column(String(20))  # none | minor | major | critical
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    scheduled_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)

    components: Mapped[list[NoticeComponent]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")
    updates: Mapped[list[NoticeUpdate]] = relationship(
        back_populates="notice", cascade="all, delete-orphan", lazy="selectin",
        order_by="NoticeUpdate.at.desc()")


class NoticeComponent(Base):
    __tablename__ = "notice_components"

    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True)
    component_slug: Mapped[str] = mapped_column(ForeignKey("components.slug"), primary_key=True)


class NoticeUpdate(Base):
    """One update of a notice, identified by its status and its time."""

    __tablename__ = "notice_updates"
    __table_args__ = (UniqueConstraint("notice_id", "status", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(30))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    body_html: Mapped[str] = mapped_column(Text, default="")  # sanitised
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Held with the rest of a poll that brought more than `[notices] max_new_per_poll`: no mail
    # is queued until an operator releases it on /drift (or discards it).
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    # Component slug → its status from this update on (operational, degraded_performance,
    # partial_outage, major_outage, under_maintenance), as Statuspage lists them; NULL when the
    # source gives none per update (RSS, Atom). Availability reads it (monitor/availability.py).
    component_states: Mapped[dict[str, str] | None] = mapped_column(JSON)

    notice: Mapped[Notice] = relationship(back_populates="updates")


def new_link_key() -> str:
    """A random secret of one subscriber row, carried by every link to it (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


class Subscriber(Base):
    """A person (email) or a channel (webhook URL) receiving notices.

    Ids are never reused (AUTOINCREMENT on SQLite), and every link also carries `link_key`,
    a secret of this row alone, so a link can never open a row created after it was sent.
    Rows from before the keys existed have none; their old links keep working.
    """

    __tablename__ = "subscribers"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_key: Mapped[str | None] = mapped_column(String(32), default=new_link_key)
    channel: Mapped[str] = mapped_column(String(10), default="email")  # email | webhook
    address: Mapped[str] = mapped_column(String(500), unique=True)  # normalised email or webhook URL
    language: Mapped[str] = mapped_column(String(2), default="da")
    all_components: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    token_version: Mapped[int] = mapped_column(Integer, default=0)  # bump to void old links

    subscriptions: Mapped[list[Subscription]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class Subscription(Base):
    __tablename__ = "subscriptions"

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    component_slug: Mapped[str] = mapped_column(ForeignKey("components.slug"), primary_key=True)


class Delivery(Base):
    """The outbox: one row per (update, subscriber), written with the update."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("update_id", "subscriber_id"),
                      Index("ix_deliveries_status_next", "status", "next_attempt_at"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("notice_updates.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    # queued | waiting (held by the hourly cap, see notify/mailcap.py) | sending | sent | failed | cancelled
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set when the delivery goes out in a summary mail: the id of the summary's first delivery.
    summary_id: Mapped[int | None] = mapped_column(Integer)


class Mail(Base):
    """The outbox's mails that are not notice updates, one row each (kinds in notify/queue.py).

    Written in the request's (or the command's, or the job's) transaction and sent by the same
    runs as deliveries, through the same claim and retries (notify/queue.py). An invitation is unique per (campaign, address hash),
    so a campaign never mails an address twice; the hash outlives the address.
    """

    __tablename__ = "mails"
    __table_args__ = (UniqueConstraint("campaign", "address_hash"),
                      Index("ix_mails_status_next", "status", "next_attempt_at"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # one of notify.queue.KINDS
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    address: Mapped[str | None] = mapped_column(String(500))  # the recipient; None once erased
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(2), default="da")
    campaign: Mapped[str | None] = mapped_column(String(100))  # invitations only
    components: Mapped[list[str]] = mapped_column(JSON, default=list)  # invitations: the offered components
    # What the kind's composer needs besides the address (plain JSON, never an address); NULL when nothing.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued | sending | sent | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Mails to a municipality's mailbox: the mailbox (what the mail says is in `payload`).
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("municipality_contacts.id", ondelete="CASCADE"))


class MunicipalityContact(Base):
    """One infrastructure mailbox of a municipality (personal data: operators only).

    `stopped` lists the kinds of mail the mailbox stopped by its one-click links; each link
    carries `link_key`, a secret of this row, besides its id (ids are never reused either).
    """

    __tablename__ = "municipality_contacts"
    __table_args__ = (UniqueConstraint("municipality_code", "address"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2), default="da")
    link_key: Mapped[str] = mapped_column(String(32), default=new_link_key)
    stopped: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SentOnce(Base):
    """A mail event that must happen once: an alert group's status, a cut-over report, a week's digest.

    The unique (kind, key) is claimed in the transaction that queues the mails, so a repeated
    notification, a second run or a restarted scheduler finds it taken and queues nothing.
    """

    __tablename__ = "sent_once"
    __table_args__ = (UniqueConstraint("kind", "key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MethodInput(Base):
    """A lead's input on the method, or objection to a result ("dit input?").

    Confirmed by a mailed link that carries `key`, a secret of this row alone (ids are never
    reused either). `address` is the reply address, never shown beside a published answer;
    `mail_id` is the confirmation mail queued for it.
    """

    __tablename__ = "method_inputs"
    __table_args__ = (Index("ix_method_inputs_created", "created_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True, default=new_link_key)
    municipality_code: Mapped[str | None] = mapped_column(ForeignKey("municipalities.code"), index=True)
    part: Mapped[str] = mapped_column(String(30))  # a rating part, or "method" for the method in general
    text: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(500), index=True)
    language: Mapped[str] = mapped_column(String(2), default="da")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    mail_id: Mapped[int | None] = mapped_column(Integer, index=True)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(254))
    published: Mapped[bool] = mapped_column(Boolean, default=False)


class RatingCorrection(Base):
    """An agreement an operator agreed was wrongly counted as redundant: the next rating counts it in use.

    Kept after it is withdrawn (`withdrawn_at`), so the history can say what a stored result used.
    """

    __tablename__ = "rating_corrections"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), index=True)
    agreement_uuid: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(Text)
    input_id: Mapped[int | None] = mapped_column(ForeignKey("method_inputs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SuppressedAddress(Base):
    """An address that must never be invited again (unsubscribed or erased), kept only as a hash."""

    __tablename__ = "suppressed_addresses"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))  # unsubscribed | erased | declined
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RatingRun(Base):
    """One stored revision of the ratings for an `as_of` date; never overwritten."""

    __tablename__ = "rating_runs"
    __table_args__ = (UniqueConstraint("as_of", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer)
    method_version: Mapped[str] = mapped_column(String(40), index=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the run saw of the call data: data_through and the window's missing days.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    results: Mapped[list[RatingResult]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class RatingResult(Base):
    """One municipality's rating in a run: the score and the whole explained document."""

    __tablename__ = "rating_results"

    run_id: Mapped[int] = mapped_column(ForeignKey("rating_runs.id", ondelete="CASCADE"), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), primary_key=True,
                                                   index=True)
    score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))  # ok | inconclusive
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class CollectorRun(Base):
    """A run of a collector or job, for the service-health page and freshness metrics."""

    __tablename__ = "collector_runs"
    __table_args__ = (Index("ix_collector_runs_collector_started", "collector", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collector: Mapped[str] = mapped_column(String(50))  # notices | calls | rating | notify | ...
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20), default="running")  # success | failure | running
    message: Mapped[str] = mapped_column(Text, default="")
    # What the run did as codes and counts, so the page can say it in the reader's language.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CounterValue(Base):
    """A monotonically increasing count kept in the database, so every process reports the same.

    `labels` is a canonical string such as ``kind=calls,outcome=imported``.
    """

    __tablename__ = "counters"

    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    labels: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)


# The `meta` key whose row lets the transaction that holds it delete agreements (migration 0022's
# triggers refuse it otherwise). Only the demo's reload writes it, and removes it before its commit.
AGREEMENTS_DELETABLE = "agreements.deletable"


class Meta(Base):
    """Small facts about this installation (e.g. the demo's cut-over window)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class SchedulerLock(Base):
    """The row lock that keeps a second scheduler idle on SQLite (PostgreSQL uses an advisory lock)."""

    __tablename__ = "scheduler_lock"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class User(Base):
    """An operator of this service. Signs in by a mailed link: no password is stored."""

    __tablename__ = "users"
    # AUTOINCREMENT: SQLite would otherwise give a removed operator's id to the next one added.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised, lower case
    role: Mapped[str] = mapped_column(String(20), default="operator")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # No longer read: sessions are rows of `operator_sessions` (kept for the migrations' history).
    session_version: Mapped[int] = mapped_column(Integer, default=0)


class LoginLink(Base):
    """A mailed sign-in link, by the random nonce it carries, so that it signs in only once."""

    __tablename__ = "login_links"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OperatorSession(Base):
    """A signed-in operator's session, kept on the server so that it can end before it expires.

    The cookie carries a random token; the row is keyed by the token's SHA-256, so the table
    alone signs nobody in. A session is live while `revoked_at` is unset and `expires_at` is ahead.
    """

    __tablename__ = "operator_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who did what and when: sign-ins, sign-outs and operator actions, shown on /drift."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))  # an operator's address, or "cli" for the command line
    action: Mapped[str] = mapped_column(String(50))  # e.g. sign_in, sign_out, users.add
    detail: Mapped[str] = mapped_column(Text, default="")
