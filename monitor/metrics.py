"""Every Prometheus metric of the service, in one place (prefix ``fki_``, base units).

Everything about the platform and about work done by other processes (scheduler, imports,
`monitor notify`) is read from the database at scrape time by one custom collector, so that
every web worker reports the same numbers whichever process did the work. Only the web
process's own request metrics live in prometheus-client objects; with
``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn) they are aggregated over the workers by
prometheus-client's multiprocess mode.

Scrape cost does not grow with the call rows: the cut-over document is cached per its
fingerprint in `monitor.fingerprints` (in the web's cache when the app passes it, shared with
/skift and the API) and the rating series per newest stored run; the rest are small
aggregates over indexed columns.
"""

from __future__ import annotations

import datetime as dt
import glob
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from . import doccache
from .cutover import STATUSES
from .cutover.documents import CutoverDocument
from .db import utcnow
from .doccache import DocumentCache
from .fingerprints import versions
from .models import (
    AGREEMENT_STATUSES,
    Agreement,
    Delivery,
    HeldCallCount,
    Mail,
    NoticeSource,
    RatingRun,
)
from .notify.queue import SENT_KINDS
from .runs import counter_values, last_successes
from .settings import Settings
from .version import __version__

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, type, label names and meaning (docs/metrics.md lists each one)."""

    name: str
    kind: str  # gauge | counter | histogram
    labels: tuple[str, ...]
    help: str


SPECS = {s.name: s for s in (
    MetricSpec("fki_build_info", "gauge", ("version", "rating_method"), "Version and rating method, always 1."),
    MetricSpec("fki_database_up", "gauge", (), "1 when this scrape could read the database, else 0."),
    MetricSpec("fki_rating_score", "gauge", ("municipality", "name"),
               "Total rating 1-10 in the newest stored snapshot; absent when inconclusive."),
    MetricSpec("fki_rating_part_score", "gauge", ("municipality", "part"),
               "Part score 1-10 in the newest stored snapshot; absent when inconclusive."),
    MetricSpec("fki_agreements", "gauge", ("municipality", "state"), "Service agreements by status as last seen."),
    MetricSpec("fki_cutover_status", "gauge", ("municipality", "status"),
               "Cut-over status, one series per status (not_judged among them), the current one 1."),
    MetricSpec("fki_cutover_call_ratio", "gauge", ("municipality",),
               "Observed calls / baseline calls; absent when the baseline is too small to judge."),
    MetricSpec("fki_cutover_error_ratio", "gauge", ("municipality",),
               "Errors / calls in the observed hours; absent where no error counts exist."),
    MetricSpec("fki_cutover_observed_calls", "gauge", ("municipality",),
               "Calls in the observed hours; absent during the window."),
    MetricSpec("fki_cutover_baseline_calls", "gauge", ("municipality",),
               "Calls normal for the observed hours: per hour the median of the same hour over baseline_weeks weeks."),
    MetricSpec("fki_cutover_silent_agreements", "gauge", ("municipality",),
               "Agreements with enough baseline calls and none observed."),
    MetricSpec("fki_cutover_tasks_done", "gauge", ("municipality",), "Cut-over tasks done."),
    MetricSpec("fki_cutover_tasks", "gauge", ("municipality",), "Cut-over tasks in all."),
    MetricSpec("fki_cutover_frozen_zone_changes", "gauge", ("municipality",),
               "Agreements first seen, or seen to change, after the frozen zone started."),
    MetricSpec("fki_cutover_acknowledged", "gauge", ("municipality",),
               "1 while an operator's acknowledgement of the municipality's red or yellow status holds, else 0."),
    MetricSpec("fki_cutover_service_observed_calls", "gauge", ("service",),
               "Calls in the observed hours under agreements for the service; absent during the window."),
    MetricSpec("fki_cutover_service_baseline_calls", "gauge", ("service",),
               "Baseline calls under agreements for the service."),
    MetricSpec("fki_cutover_supplier_observed_calls", "gauge", ("supplier",),
               "Calls in the observed hours from the supplier's IT systems; absent during the window."),
    MetricSpec("fki_cutover_supplier_baseline_calls", "gauge", ("supplier",),
               "Baseline calls from the supplier's IT systems."),
    MetricSpec("fki_cutover_watermark_timestamp_seconds", "gauge", (),
               "End of the newest complete hour with call data (Unix time)."),
    MetricSpec("fki_cutover_window_start_timestamp_seconds", "gauge", (), "Start of the cut-over window."),
    MetricSpec("fki_cutover_window_end_timestamp_seconds", "gauge", (), "End of the cut-over window."),
    MetricSpec("fki_cutover_frozen_zone_start_timestamp_seconds", "gauge", (), "Start of the frozen zone."),
    MetricSpec("fki_cutover_threshold_ratio", "gauge", ("threshold",),
               "The call ratios a status is judged by ([cutover] green_ratio and red_ratio): the alert rules read them."),
    MetricSpec("fki_notices_open", "gauge", ("component", "kind"),
               "Open notices per component (\"all\": naming none) and kind."),
    MetricSpec("fki_component_status", "gauge", ("component", "status"),
               "Component status, one series per status, the current one 1."),
    MetricSpec("fki_component_availability_ratio", "gauge", ("component", "window"),
               "Availability from the notices over the last 1, 30 or 90 Copenhagen days (today up to now), "
               "maintenance left out; absent when no minute is judged."),
    MetricSpec("fki_component_error_budget_remaining_ratio", "gauge", ("component",),
               "Share of the monthly error budget (1 - target) left over the last 30 days; below 0 when overspent. "
               "Only components with a target."),
    MetricSpec("fki_component_availability_target_ratio", "gauge", ("component",),
               "The component's monthly availability target ([[availability.targets]])."),
    MetricSpec("fki_component_error_ratio", "gauge", ("component",),
               "Unavailability now: 1 in a major outage, [availability] partial_weight in a partial outage, else 0."),
    MetricSpec("fki_notice_source_consecutive_failures", "gauge", ("source",),
               "Failed polls of the source since its last success."),
    MetricSpec("fki_notice_source_last_success_timestamp_seconds", "gauge", ("source",),
               "Last successful poll of the source."),
    MetricSpec("fki_collector_last_success_timestamp_seconds", "gauge", ("collector",),
               "End of the collector's newest successful run."),
    MetricSpec("fki_collector_runs_total", "counter", ("collector", "outcome"), "Collector runs by outcome."),
    MetricSpec("fki_import_rows_total", "counter", ("kind", "outcome"), "Rows imported, held or rejected."),
    MetricSpec("fki_notifications_total", "counter", ("channel", "outcome"), "Notification delivery attempts."),
    MetricSpec("fki_mail_sent_total", "counter", ("kind",),
               "Mails sent from the outbox by kind (a summary of notices counts once, as notice)."),
    MetricSpec("fki_scheduler_job_runs_total", "counter", ("job", "outcome"),
               "Scheduler job runs by outcome (a failed job runs again at its next tick)."),
    MetricSpec("fki_limit_hits_total", "counter", ("limit",),
               "Inputs refused or cut at a configured limit (max_feed_bytes, max_items, max_update_bytes)."),
    MetricSpec("fki_notification_queue_depth", "gauge", (),
               "Deliveries and mails (confirmations, invitations, sign-in links, ...) waiting in the outbox."),
    MetricSpec("fki_import_held_rows", "gauge", (), "Call counts held until their agreement arrives."),
    MetricSpec("fki_notices_held", "gauge", (),
               "New notice updates held (no mail) because one poll brought more than max_new_per_poll."),
    MetricSpec("fki_http_requests_total", "counter", ("method", "endpoint", "status"),
               "HTTP requests served by the web process."),
    MetricSpec("fki_http_request_duration_seconds", "histogram", ("method", "endpoint"),
               "Time to serve an HTTP request."),
    MetricSpec("fki_ratelimit_storage_up", "gauge", (),
               "1 while the web processes count rate limits in the configured storage; 0 when one has "
               "fallen back to counting in its own memory (the storage is unreachable)."),
)}
# Counters kept in the database by `monitor.runs`, by their name there (without fki_).
DB_COUNTERS = ("collector_runs_total", "import_rows_total", "notifications_total", "mail_sent_total",
               "scheduler_job_runs_total", "limit_hits_total")
# Request methods kept as label values; any other method is counted as "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Windows of fki_component_availability_ratio, in Copenhagen days.
WINDOWS = (1, 30, 90)
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")

# The web process's own metrics. Under multiprocess mode prometheus-client stores their
# values in files in PROMETHEUS_MULTIPROC_DIR (it decides so when it is first imported).
# The *_created series would double every counter in the text format for no use here.
disable_created_metrics()
REQUEST_REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter("fki_http_requests", SPECS["fki_http_requests_total"].help,
                        ("method", "endpoint", "status"), registry=REQUEST_REGISTRY)
HTTP_DURATION = Histogram("fki_http_request_duration_seconds", SPECS["fki_http_request_duration_seconds"].help,
                          ("method", "endpoint"), registry=REQUEST_REGISTRY,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
# Per process (each counts on its own after a fallback); over gunicorn's workers the lowest of
# the live ones, so one worker that fell back shows as 0.
RATELIMIT_STORAGE_UP = Gauge("fki_ratelimit_storage_up", SPECS["fki_ratelimit_storage_up"].help,
                             registry=REQUEST_REGISTRY, multiprocess_mode="livemin")


def _gauge(name: str) -> GaugeMetricFamily:
    spec = SPECS[name]
    return GaugeMetricFamily(name, spec.help, labels=spec.labels)


def _ts(t: str | dt.datetime) -> float:
    return (dt.datetime.fromisoformat(t) if isinstance(t, str) else t).timestamp()


AD_HOC_SOURCE = "cli"


def source_label(settings: Settings, name: str) -> str:
    """A notice source's `source` label: its configured name, or "cli" for `collect notices --source`.

    A source given by hand is stored under its path or URL; neither belongs in a label, which
    must stay bounded and public (`/metrics` never shows a server path).
    """
    return name if name in {s.name for s in settings.notices.sources} else AD_HOC_SOURCE


class DatabaseCollector(Collector):
    """Reads every platform metric from the database at scrape time.

    `sessions` opens a session per scrape; `clock` gives the current instant (tests pass a
    frozen one); `cache`, when given, holds the cut-over document under the key the web uses
    for it, so a page and a scrape in the same minute compute it once.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 clock: Callable[[], dt.datetime] = utcnow, cache: DocumentCache | None = None) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        # Without the web's cache, a small one of its own: a scrape a minute computes a document once.
        self.cache = cache if cache is not None else DocumentCache(size=8)
        self._lock = threading.Lock()
        self._rating: tuple[Any, list[Metric]] | None = None

    def describe(self) -> list[Metric]:
        """Nothing up front: the registry must not read the database when the collector is registered."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The families of one scrape, read in one session."""
        build = _gauge("fki_build_info")
        build.add_metric([__version__, self.settings.rating.method_version], 1)
        yield build
        up = _gauge("fki_database_up")
        try:
            with self.sessions() as session:
                families = list(self._families(session, self.clock()))
        except Exception:  # the database is down or not migrated: say so, keep /metrics answering
            log.exception("metrics: reading the database failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        yield from self._rating_families(session)
        yield self._agreements(session)
        yield from self._cutover_families(self._cutover_document(session, now))
        yield from self._notice_families(session, now)
        yield from self._availability_families(session, now)
        yield from self._work_families(session)

    def _rating_families(self, session: Session) -> list[Metric]:
        from .rating.service import latest_snapshot_scores

        run_id = session.scalar(select(RatingRun.id).order_by(RatingRun.as_of.desc(), RatingRun.revision.desc())
                                .limit(1))
        with self._lock:
            if self._rating is not None and self._rating[0] == run_id:
                return self._rating[1]
        score, part = _gauge("fki_rating_score"), _gauge("fki_rating_part_score")
        for row in latest_snapshot_scores(session):
            if row.score is not None:
                score.add_metric([row.code, row.name], row.score)
            for name, value in sorted(row.parts.items()):
                if value is not None:
                    part.add_metric([row.code, name], value)
        families: list[Metric] = [score, part]
        with self._lock:
            self._rating = (run_id, families)
        return families

    def _agreements(self, session: Session) -> Metric:
        family = _gauge("fki_agreements")
        counts: dict[str, dict[str, int]] = {}
        stmt = select(Agreement.municipality_code, Agreement.status, func.count()).group_by(
            Agreement.municipality_code, Agreement.status)
        for code, status, n in session.execute(stmt):
            counts.setdefault(code, dict.fromkeys(AGREEMENT_STATUSES, 0))[status] = n
        for code in sorted(counts):
            for status, n in counts[code].items():
                family.add_metric([code, status], n)
        return family

    def _cutover_document(self, session: Session, now: dt.datetime) -> CutoverDocument:
        key = versions(session, self.settings, now)["cutover"]
        return doccache.cutover(self.cache, session, self.settings, now, key)

    def _cutover_families(self, doc: CutoverDocument) -> Iterator[Metric]:
        status = _gauge("fki_cutover_status")
        per_code = {name: _gauge(name) for name in (
            "fki_cutover_call_ratio", "fki_cutover_error_ratio", "fki_cutover_observed_calls",
            "fki_cutover_baseline_calls", "fki_cutover_silent_agreements", "fki_cutover_tasks_done",
            "fki_cutover_tasks", "fki_cutover_frozen_zone_changes", "fki_cutover_acknowledged")}
        for m in doc["municipalities"]:
            code = m["code"]
            for s in STATUSES:
                status.add_metric([code, s], 1 if m["status"] == s else 0)
            values = {"fki_cutover_call_ratio": m["call_ratio"], "fki_cutover_error_ratio": m["error_ratio"],
                      "fki_cutover_observed_calls": m["observed_calls"],
                      "fki_cutover_baseline_calls": m["baseline_calls"],
                      "fki_cutover_silent_agreements": len(m["silent_agreements"]),
                      "fki_cutover_tasks_done": m["tasks_done"], "fki_cutover_tasks": m["tasks_total"],
                      "fki_cutover_frozen_zone_changes": len(m["frozen_zone_changes"]),
                      "fki_cutover_acknowledged": 1 if m["acknowledgement"] else 0}
            for name, value in values.items():
                if value is not None:  # a ratio not judged is absent, not NaN
                    per_code[name].add_metric([code], value)
        yield status
        yield from per_code.values()
        national = doc["national"]
        groups: tuple[tuple[str, list[tuple[str | None, int | None, int]]], ...] = (
            ("service", [(row["id"], row["observed_calls"], row["baseline_calls"]) for row in national["services"]]),
            ("supplier", [(row["name"], row["observed_calls"], row["baseline_calls"])
                          for row in national["suppliers"]]))
        for group, rows in groups:
            observed = _gauge(f"fki_cutover_{group}_observed_calls")
            baseline = _gauge(f"fki_cutover_{group}_baseline_calls")
            for label, observed_calls, baseline_calls in rows:
                if observed_calls is not None:  # absent during the window
                    observed.add_metric([label or "unknown"], observed_calls)
                baseline.add_metric([label or "unknown"], baseline_calls)
            yield observed
            yield baseline
        window = doc["window"]
        instants: tuple[tuple[str, str | None], ...] = (
            ("fki_cutover_watermark_timestamp_seconds", doc["watermark"]),
            ("fki_cutover_window_start_timestamp_seconds", window["start"]),
            ("fki_cutover_window_end_timestamp_seconds", window["end"]),
            ("fki_cutover_frozen_zone_start_timestamp_seconds", window["frozen_zone_start"]))
        for name, instant in instants:
            family = _gauge(name)
            if instant is not None:
                family.add_metric([], _ts(instant))
            yield family
        thresholds = _gauge("fki_cutover_threshold_ratio")
        thresholds.add_metric(["green"], doc["thresholds"]["green_ratio"])
        thresholds.add_metric(["red"], doc["thresholds"]["red_ratio"])
        yield thresholds

    def _notice_families(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        from .noticeview import component_statuses, open_notice_counts

        notices = _gauge("fki_notices_open")
        for (component, kind), n in sorted(open_notice_counts(session).items()):
            notices.add_metric([component, kind], n)
        yield notices
        components = _gauge("fki_component_status")
        for slug, current in component_statuses(session, now).items():
            for s in dict.fromkeys((*COMPONENT_STATUSES, current)):
                components.add_metric([slug, s], 1 if s == current else 0)
        yield components
        failures = _gauge("fki_notice_source_consecutive_failures")
        success = _gauge("fki_notice_source_last_success_timestamp_seconds")
        worst: dict[str, int] = {}
        latest: dict[str, float] = {}
        for src in session.execute(select(NoticeSource.name, NoticeSource.consecutive_failures,
                                          NoticeSource.last_success_at).order_by(NoticeSource.name)):
            label = source_label(self.settings, src.name)
            worst[label] = max(worst.get(label, 0), src.consecutive_failures or 0)
            if src.last_success_at is not None:
                latest[label] = max(latest.get(label, 0.0), _as_utc(src.last_success_at).timestamp())
        for label, n in worst.items():
            failures.add_metric([label], n)
        for label, ts in latest.items():
            success.add_metric([label], ts)
        yield failures
        yield success

    def _availability_families(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        from .availability import availability, error_budget_remaining
        from .noticeview import component_statuses

        weight = self.settings.availability.partial_weight
        days = max(WINDOWS)
        records = doccache.component_records(self.cache, session, self.settings, now, days,
                                             versions(session, self.settings, now)["notices"])
        ratio = _gauge("fki_component_availability_ratio")
        for record in records:
            for n in WINDOWS:
                value = availability(record.last(n), weight)
                if value is not None:
                    ratio.add_metric([record.slug, f"{n}d"], value)
        yield ratio
        targets = {t.component: t.target for t in self.settings.availability.targets}
        budget, target = _gauge("fki_component_error_budget_remaining_ratio"), _gauge(
            "fki_component_availability_target_ratio")
        for record in records:
            if record.slug in targets:
                target.add_metric([record.slug], targets[record.slug])
                left = error_budget_remaining(record.last(30), weight, targets[record.slug])
                if left is not None:
                    budget.add_metric([record.slug], left)
        yield budget
        yield target
        error = _gauge("fki_component_error_ratio")
        for slug, status in component_statuses(session, now).items():
            error.add_metric([slug], {"major_outage": 1.0, "partial_outage": weight}.get(status, 0.0))
        yield error

    def _work_families(self, session: Session) -> Iterator[Metric]:
        last = _gauge("fki_collector_last_success_timestamp_seconds")
        for collector, finished in last_successes(session).items():
            last.add_metric([collector], finished.timestamp())
        yield last
        counters = {name: CounterMetricFamily("fki_" + name, SPECS["fki_" + name].help,
                                              labels=SPECS["fki_" + name].labels) for name in DB_COUNTERS}
        mailed = dict.fromkeys(SENT_KINDS, 0.0)  # every kind from the start, so that rate() sees the first mail
        for reading in counter_values(session, DB_COUNTERS):
            kind = reading.labels.get("kind", "")
            if reading.metric == "mail_sent_total" and kind in mailed:
                mailed[kind] = reading.value
                continue
            counters[reading.metric].add_metric(
                [reading.labels.get(name, "") for name in SPECS["fki_" + reading.metric].labels], reading.value)
        for kind, value in mailed.items():
            counters["mail_sent_total"].add_metric([kind], value)
        yield from counters.values()
        queue = _gauge("fki_notification_queue_depth")
        waiting = ("queued", "waiting", "sending")
        queue.add_metric([], (session.scalar(select(func.count()).where(Delivery.status.in_(waiting))) or 0)
                         + (session.scalar(select(func.count()).where(Mail.status.in_(waiting))) or 0))
        yield queue
        held = _gauge("fki_import_held_rows")
        held.add_metric([], session.scalar(select(func.count()).select_from(HeldCallCount)) or 0)
        yield held
        from .notify.held import held_count

        notices = _gauge("fki_notices_held")
        notices.add_metric([], held_count(session))
        yield notices


def _as_utc(t: dt.datetime | str) -> dt.datetime:
    # max() over a UTCDateTime column comes back raw (a string on SQLite, naive elsewhere).
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


def registry_for(sessions: sessionmaker[Session], settings: Settings,
                 clock: Callable[[], dt.datetime] = utcnow, cache: DocumentCache | None = None) -> CollectorRegistry:
    """A registry holding the database collector (one per app), keeping documents in `cache` when given."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(sessions, settings, clock, cache))
    return registry


class WorkerFiles(MultiProcessCollector):
    """prometheus-client's collector of the workers' files, skipping a file still being made.

    A worker creates its file empty and then sizes it; a scrape by another worker in between
    would fail on the empty file (``struct.error``) and answer 500. A file without its 8-byte
    header holds no value yet, so leaving it out loses nothing.
    """

    def collect(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self._path, "*.db")) if os.path.getsize(f) >= 8]
        merged: Iterable[Metric] = self.merge(files, accumulate=True)
        return merged


def exposition(database_registry: CollectorRegistry) -> bytes:
    """The /metrics body: the database families, then this process's (or all workers') request metrics."""
    requests = REQUEST_REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        requests = CollectorRegistry()
        WorkerFiles(requests)
    return generate_latest(database_registry) + generate_latest(requests)


def observe_request(method: str, endpoint: str, status: int, seconds: float) -> None:
    """Count one HTTP request served by this process; labels come from a fixed set."""
    method = method if method in KNOWN_METHODS else "other"
    HTTP_REQUESTS.labels(method, endpoint, str(status)).inc()
    HTTP_DURATION.labels(method, endpoint).observe(seconds)


def set_ratelimit_storage_up(up: bool) -> None:
    """Record whether this process counts rate limits in the configured storage (1) or its memory (0)."""
    RATELIMIT_STORAGE_UP.set(1 if up else 0)
