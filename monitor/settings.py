"""Settings: config.toml plus environment, parsed once into frozen, validated dataclasses.

Every key has a type. Unknown keys, wrong types and bad values are all found in one pass and
stop the start together, in one `ConfigError` naming each key (e.g.
``rating.weights.calls_per_citizen``), so an operator fixes a config in one go. Relative paths
in the file are relative to the file's own folder. Secrets come from the environment only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .collector_kinds import SOURCE_KINDS

DEFAULT_CONFIG = "config.toml"
# The Flask-Limiter (limits) storages this service is meant to share its counts through.
RATELIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster", "memcached")
# How far back the cut-over baseline may reach (baseline_days × baseline_weeks).
MAX_BASELINE_DAYS = 371
MAX_FILE_BYTES = 1024 ** 3  # a posted call-count file is read into memory whole: 1 GiB at most


class ConfigError(Exception):
    """Configuration values are missing, unknown or invalid; the message names each key.

    `errors` holds one line per problem ("cutover.green_ratio: expected a number, got 'x'").
    One problem is the whole message; several are listed under a line that counts them.
    """

    def __init__(self, *errors: str) -> None:
        self.errors: tuple[str, ...] = errors
        if len(errors) == 1:
            super().__init__(errors[0])
        else:
            super().__init__("\n  ".join((f"{len(errors)} problems:", *errors)))


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/monitor.db"


@dataclass(frozen=True)
class NoticeSource:
    name: str
    url: str
    kind: str = "feed"
    components: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoticesSettings:
    poll_seconds: int = 60
    timeout_seconds: float = 10.0
    max_feed_bytes: int = 5_000_000
    max_items: int = 500
    max_update_bytes: int = 65_536
    max_mails_per_subscriber_hour: int = 10
    max_new_per_poll: int = 50
    reminders_hours: tuple[int, ...] = (24, 1)
    sources: tuple[NoticeSource, ...] = ()


@dataclass(frozen=True)
class CallsCollectorSettings:
    inbox: str = "var/inbox"
    poll_seconds: int = 60
    url: str = ""
    max_file_bytes: int = 64 * 1024 * 1024  # the bound on a file posted to POST /api/v1/imports/calls


@dataclass(frozen=True)
class CollectorsSettings:
    calls: CallsCollectorSettings = field(default_factory=CallsCollectorSettings)


@dataclass(frozen=True)
class RatingWeights:
    service_agreements: float = 0.30
    calls_per_citizen: float = 0.20
    it_systems_with_calls: float = 0.50


@dataclass(frozen=True)
class PlannedOutage:
    """A planned stop of the platform: days it overlaps count as covered without call data."""

    start: dt.datetime
    end: dt.datetime
    reason: str = ""


@dataclass(frozen=True)
class RatingSettings:
    method_version: str = "2020.12"
    window_days: int = 30
    redundant_after_days: int = 90
    active_ref: float = 200.0
    cpc_lo: float = 0.5
    cpc_hi: float = 50.0
    price_per_citizen: float = 25.0
    price_half_above: int = 150_000
    daily_at: str = "06:00"
    weights: RatingWeights = field(default_factory=RatingWeights)
    planned_outages: tuple[PlannedOutage, ...] = ()

    def parameters(self) -> dict[str, typing.Any]:
        """The parameters recorded with every stored result (everything that changes a score).

        The planned outages themselves are facts about the platform, not parameters: each
        result names the planned-outage days of its window instead. What the method does with
        them is recorded ("planned_outages_covered", new in 2020.12), so code of 2020.12 run
        with method_version 2020.11 refuses to start rather than change 2020.11's meaning.
        """
        return {
            "planned_outages_covered": True,
            "window_days": self.window_days,
            "redundant_after_days": self.redundant_after_days,
            "active_ref": self.active_ref,
            "cpc_lo": self.cpc_lo,
            "cpc_hi": self.cpc_hi,
            "weights": dataclasses.asdict(self.weights),
        }


@dataclass(frozen=True)
class CutoverSettings:
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    frozen_zone_start: dt.datetime | None = None
    lookback_hours: int = 6
    # The baseline compares the same wall-clock hours baseline_days, 2 × baseline_days, …
    # earlier, baseline_weeks times (a config that sets only baseline_days keeps one).
    baseline_days: int = 7
    baseline_weeks: int = 4
    min_baseline_calls: int = 10
    min_municipality_baseline: int = 30
    green_ratio: float = 0.8
    red_ratio: float = 0.5
    yellow_error_ratio: float = 0.05
    red_error_ratio: float = 0.2
    # A ratio below a threshold counts only when P(X <= observed) under Poisson is below this.
    significance: float = 0.01
    ack_hours: int = 12
    support_url: str = ""
    # A service, supplier or the platform is yellow for silent agreements when at least this
    # many of its judged agreements, and at least this share of them, went silent.
    silent_share: float = 0.05
    silent_count: int = 3


@dataclass(frozen=True)
class MailSettings:
    backend: str = "file"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    sender: str = "Infrastrukturmonitor <driftstatus@infrastrukturmonitor.invalid>"
    outbox_dir: str = "var/outbox"
    max_attempts: int = 8
    # Days after which a delivery row no longer names its recipient.
    retention_days: int = 90
    invitations_per_minute: int = 30
    # Secrets from the environment, never from the file.
    smtp_username: str = ""
    smtp_password: str = ""


@dataclass(frozen=True)
class WebSettings:
    base_url: str = ""  # unset: links follow the host and port `monitor serve` listens on
    rate_limit: str = "10 per minute"
    unsubscribe_grace_days: int = 30
    confirm_max_age_hours: int = 48
    # A Flask-Limiter storage URI; $MONITOR_RATELIMIT_STORAGE overrides it.
    ratelimit_storage: str = "memory://"
    session_hours: int = 12
    login_link_minutes: int = 15
    login_mail_seconds: int = 60  # at most one sign-in mail per address in this many seconds
    trusted_proxies: int = 0  # proxy hops whose X-Forwarded-* headers are believed (ProxyFix)
    accessibility_contact: str = "tilgaengelighed@infrastrukturmonitor.invalid"
    max_query_bytes: int = 2048
    max_body_bytes: int = 65_536
    cache_bytes: int = 64_000_000


@dataclass(frozen=True)
class AlertsSettings:
    # The bearer token Alertmanager sends to POST /api/v1/alertmanager; empty: nothing is accepted.
    # $MONITOR_ALERTS_RECEIVER_TOKEN overrides it.
    receiver_token: str = ""
    max_body_bytes: int = 1_000_000


@dataclass(frozen=True)
class DigestSettings:
    weekday: int = 1  # ISO: 1 = Monday … 7 = Sunday
    hour: int = 7  # Copenhagen time


@dataclass(frozen=True)
class DemoSettings:
    enabled: bool = False
    feed_path: str = "var/demo-status.rss"
    call_file_minutes: int = 5
    feed_update_minutes: int = 7


@dataclass(frozen=True)
class SchedulerSettings:
    heartbeat_seconds: float = 10.0
    stale_after_seconds: float = 45.0


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True)
class ComponentSettings:
    slug: str
    name: str
    keywords: tuple[str, ...] = ()
    supplier: str = ""  # who runs it, for availability per supplier ("": not said)


@dataclass(frozen=True)
class AvailabilityTarget:
    """A component's availability target for a month (e.g. 0.995)."""

    component: str
    target: float


@dataclass(frozen=True)
class AvailabilitySettings:
    # A minute of partial outage counts as this share of a minute unavailable (major: 1).
    partial_weight: float = 0.3
    targets: tuple[AvailabilityTarget, ...] = ()


DEFAULT_COMPONENTS = (
    ComponentSettings("serviceplatformen", "Serviceplatformen", ("serviceplatform", "sf1520", "cpr")),
    ComponentSettings("beskedfordeler", "Beskedfordeler", ("beskedfordeler", "beskedfordeleren")),
    ComponentSettings("adgangsstyring-brugere", "Fælleskommunal Adgangsstyring for brugere",
                      ("adgangsstyring for brugere", "context handler")),
    ComponentSettings("adgangsstyring-systemer", "Fælleskommunal Adgangsstyring for systemer",
                      ("adgangsstyring for systemer", "security token service")),
    ComponentSettings("organisation", "Organisation", ("organisation",)),
    ComponentSettings("klassifikation", "Klassifikation", ("klassifikation",)),
    ComponentSettings("sags-og-dokumentindeks", "Sags- og Dokumentindeks",
                      ("sags- og dokumentindeks", "sagsindeks", "dokumentindeks")),
    ComponentSettings("ydelsesindeks", "Ydelsesindeks", ("ydelsesindeks",)),
    ComponentSettings("administrationsmodul", "Administrationsmodul", ("administrationsmodul",)),
)


@dataclass(frozen=True)
class RetentionSettings:
    hourly_days: int = 400  # hourly counts older than this are rolled into daily counts and deleted


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    notices: NoticesSettings = field(default_factory=NoticesSettings)
    collectors: CollectorsSettings = field(default_factory=CollectorsSettings)
    rating: RatingSettings = field(default_factory=RatingSettings)
    cutover: CutoverSettings = field(default_factory=CutoverSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    web: WebSettings = field(default_factory=WebSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    components: tuple[ComponentSettings, ...] = DEFAULT_COMPONENTS
    availability: AvailabilitySettings = field(default_factory=AvailabilitySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # Not from the file: the folder relative paths are resolved against, and the secret key.
    base_dir: str = "."
    secret_key: str = ""
    # Not from the file either: the origin `monitor serve` listens on (see monitor/links.py).
    served_url: str = ""

    def path(self, value: str) -> Path:
        """Resolve a path from the config relative to the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def component_slugs(self) -> list[str]:
        """The configured component slugs, in their configured order."""
        return [c.slug for c in self.components]


# Fields that may only come from the environment.
_ENV_ONLY = {"mail.smtp_username", "mail.smtp_password", "base_dir", "secret_key", "served_url"}


class _Broken:
    """A value that could not be read; its field keeps its default and its problem is reported."""


_BROKEN = _Broken()


def _related(key: str, other: str) -> bool:
    # One key is the other or lies inside it ("rating.weights" and "rating.weights.x").
    short, long = sorted((key, other), key=len)
    return long == short or long.startswith((short + ".", short + "["))


class _Problems:
    """The problems found in one config, each a line "key: reason", collected rather than raised."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.unread: list[str] = []  # keys whose value could not be read (they keep their default)

    def add(self, key: str, reason: str) -> None:
        self.lines.append(f"{key}: {reason}")

    def unreadable(self, key: str, reason: str) -> None:
        self.add(key, reason)
        self.unread.append(key)

    def check(self, ok: bool, key: str, reason: str, reads: tuple[str, ...] = ()) -> None:
        """Report `key: reason` unless `ok`, or unless the check read a value that could not be read."""
        if not ok and not any(_related(k, bad) for k in (key, *reads) for bad in self.unread):
            self.add(key, reason)

    def raise_any(self) -> None:
        if self.lines:
            raise ConfigError(*self.lines)


def _convert(value: typing.Any, tp: typing.Any, key: str, problems: _Problems) -> typing.Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(value, args[0], key, problems)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            return _unreadable(problems, key, f"expected a table, got {type(value).__name__}")
        return _build(tp, value, problems, key + ".")
    if origin is tuple:
        if not isinstance(value, list):
            return _unreadable(problems, key, f"expected a list, got {type(value).__name__}")
        items = (_convert(v, typing.get_args(tp)[0], f"{key}[{i}]", problems) for i, v in enumerate(value))
        return tuple(item for item in items if item is not _BROKEN)
    reason = _wrong_scalar(value, tp)
    if reason:
        return _unreadable(problems, key, reason)
    return float(value) if tp is float else value


def _unreadable(problems: _Problems, key: str, reason: str) -> _Broken:
    problems.unreadable(key, reason)
    return _BROKEN


def _wrong_scalar(value: typing.Any, tp: typing.Any) -> str:
    """Why `value` is not of the scalar type `tp` ("" when it is)."""
    if tp is dt.datetime:
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            return f"expected an offset date-time such as 2020-11-28T08:00:00+01:00, got {value!r}"
    elif tp is bool:
        if not isinstance(value, bool):
            return f"expected true or false, got {value!r}"
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {value!r}"
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"expected a number, got {value!r}"
    elif tp is str:
        if not isinstance(value, str):
            return f"expected a string, got {value!r}"
    else:  # pragma: no cover
        return f"unsupported type {tp}"
    return ""


def _build(cls: type, data: dict[str, typing.Any], problems: _Problems, prefix: str = "") -> typing.Any:
    """An instance of the dataclass `cls` from a TOML table; _BROKEN when a required key is unreadable."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names or f"{prefix}{key}" in _ENV_ONLY:
            problems.add(f"{prefix}{key}", "unknown key")
    kwargs = {}
    complete = True
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name in data:
            value = _convert(data[f.name], hints[f.name], prefix + f.name, problems)
            if value is not _BROKEN:
                kwargs[f.name] = value
            complete = complete and (value is not _BROKEN or not required)
        elif required:
            problems.unreadable(prefix + f.name, "required key is missing")
            complete = False
    return cls(**kwargs) if complete else _BROKEN


def _check_rating(r: RatingSettings, p: _Problems) -> None:
    w = r.weights
    for name, v in dataclasses.asdict(w).items():
        p.check(v >= 0, f"rating.weights.{name}", f"must not be negative, got {v}")
    total = w.service_agreements + w.calls_per_citizen + w.it_systems_with_calls
    p.check(abs(total - 1) <= 1e-6, "rating.weights", f"must sum to 1, they sum to {total:g}")
    p.check(r.active_ref >= 1, "rating.active_ref", f"must be at least 1, got {r.active_ref:g}")
    p.check(0 < r.cpc_lo < r.cpc_hi, "rating.cpc_lo", f"need 0 < cpc_lo < cpc_hi, got {r.cpc_lo:g}, {r.cpc_hi:g}",
            reads=("rating.cpc_hi",))
    for key in ("window_days", "redundant_after_days"):
        p.check(getattr(r, key) >= 1, f"rating.{key}", "must be at least 1")
    p.check(bool(r.method_version.strip()), "rating.method_version", "must not be empty")
    p.check(_is_clock_time(r.daily_at), "rating.daily_at", f"expected HH:MM, got {r.daily_at!r}")
    for i, outage in enumerate(r.planned_outages):
        p.check(outage.end > outage.start, f"rating.planned_outages[{i}].end", "must be after start")


def _is_clock_time(text: str) -> bool:
    try:
        dt.time.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_cutover(c: CutoverSettings, p: _Problems) -> None:
    p.check(not (c.start and c.end and c.end <= c.start), "cutover.end", "must be after cutover.start",
            reads=("cutover.start",))
    for key in ("lookback_hours", "baseline_days", "baseline_weeks", "silent_count", "ack_hours"):
        p.check(getattr(c, key) >= 1, f"cutover.{key}", "must be at least 1")
    reach = c.baseline_days * c.baseline_weeks
    p.check(reach <= MAX_BASELINE_DAYS, "cutover.baseline_weeks",
            f"the baseline reaches back at most {MAX_BASELINE_DAYS} days (baseline_days × baseline_weeks), "
            f"got {reach}", reads=("cutover.baseline_days",))
    p.check(0 < c.silent_share <= 1, "cutover.silent_share",
            f"need 0 < silent_share <= 1, got {c.silent_share:g}")
    p.check(0 <= c.green_ratio <= 1, "cutover.green_ratio", f"must be between 0 and 1, got {c.green_ratio:g}")
    p.check(0 <= c.red_ratio <= c.green_ratio, "cutover.red_ratio", "need 0 <= red_ratio <= green_ratio",
            reads=("cutover.green_ratio",))
    p.check(0 <= c.yellow_error_ratio <= c.red_error_ratio <= 1, "cutover.yellow_error_ratio",
            "need 0 <= yellow_error_ratio <= red_error_ratio <= 1", reads=("cutover.red_error_ratio",))
    p.check(0 < c.significance < 1, "cutover.significance", f"need 0 < significance < 1, got {c.significance:g}")
    p.check(not c.support_url or c.support_url.startswith(("https://", "http://")), "cutover.support_url",
            f"expected an http(s) URL, got {c.support_url!r}")


def _check_mail(m: MailSettings, p: _Problems) -> None:
    p.check(m.backend in ("smtp", "file"), "mail.backend", f"expected \"smtp\" or \"file\", got {m.backend!r}")
    p.check(1 <= m.invitations_per_minute <= 10_000, "mail.invitations_per_minute", "must be between 1 and 10000")
    p.check(m.retention_days >= 1, "mail.retention_days", "must be at least 1")


def _check_web(w: WebSettings, p: _Problems) -> None:
    p.check(not w.base_url or bool(re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", w.base_url)), "web.base_url",
            f"expected an http(s) URL such as https://monitor.example.dk, got {w.base_url!r}")
    for key, least in (("max_query_bytes", 256), ("max_body_bytes", 1024), ("cache_bytes", 0),
                       ("session_hours", 1), ("login_link_minutes", 1), ("login_mail_seconds", 1)):
        p.check(getattr(w, key) >= least, f"web.{key}", f"must be at least {least}, got {getattr(w, key)}")
    p.check(0 <= w.trusted_proxies <= 10, "web.trusted_proxies",
            f"expected a number of proxy hops from 0 to 10, got {w.trusted_proxies!r}")
    p.check(_is_mail_address(w.accessibility_contact), "web.accessibility_contact",
            f"expected a mail address, got {w.accessibility_contact!r}")
    scheme = w.ratelimit_storage.partition("://")[0]
    p.check("://" in w.ratelimit_storage and scheme in RATELIMIT_SCHEMES, "web.ratelimit_storage",
            f"expected a storage URI such as memory:// or redis://127.0.0.1:6379/0, got {w.ratelimit_storage!r}")


def _is_mail_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    return bool(at and local and "." in domain and "@" not in domain and len(text) <= 254
                and not any(ch.isspace() or ch in "<>\"" for ch in text))


def _check_notices(n: NoticesSettings, slugs: list[str], p: _Problems) -> None:
    p.check(n.poll_seconds >= 1, "notices.poll_seconds", "must be at least 1")
    for key, least in (("max_feed_bytes", 1024), ("max_items", 1), ("max_update_bytes", 256),
                       ("max_mails_per_subscriber_hour", 1), ("max_new_per_poll", 1)):
        p.check(getattr(n, key) >= least, f"notices.{key}", f"must be at least {least}, got {getattr(n, key)}")
    hours = n.reminders_hours
    p.check(len(hours) <= 5 and len(set(hours)) == len(hours) and all(1 <= h <= 720 for h in hours),
            "notices.reminders_hours", f"at most 5 different whole hours from 1 to 720, got {list(hours)}")
    for i, src in enumerate(n.sources):
        p.check(src.kind in SOURCE_KINDS, f"notices.sources[{i}].kind",
                f"expected {_one_of(SOURCE_KINDS)}, got {src.kind!r}")
        for slug in src.components:
            p.check(slug in slugs, f"notices.sources[{i}].components", f"unknown component {slug!r}",
                    reads=("components",))


def _one_of(names: Iterable[str]) -> str:
    """`"a"`, `"a" or "b"`, `"a", "b" or "c"`."""
    quoted = [f'"{n}"' for n in names]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


def _check_components(components: tuple[ComponentSettings, ...], p: _Problems) -> None:
    for i, comp in enumerate(components):
        p.check(bool(comp.slug) and all(ch.isascii() and (ch.islower() or ch.isdigit() or ch == "-")
                                        for ch in comp.slug),
                f"components[{i}].slug", f"lower-case ASCII letters, digits and '-' only, got {comp.slug!r}")
    slugs = [c.slug for c in components]
    p.check(len(set(slugs)) == len(slugs), "components", "slugs must be unique")


def _check_availability(a: AvailabilitySettings, slugs: list[str], p: _Problems) -> None:
    p.check(0 <= a.partial_weight <= 1, "availability.partial_weight",
            f"need 0 <= partial_weight <= 1, got {a.partial_weight:g}")
    for i, t in enumerate(a.targets):
        p.check(t.component in slugs, f"availability.targets[{i}].component", f"unknown component {t.component!r}",
                reads=("components",))
        p.check(0 < t.target < 1, f"availability.targets[{i}].target", f"need 0 < target < 1, got {t.target:g}")
    p.check(len({t.component for t in a.targets}) == len(a.targets), "availability.targets",
            "one target per component")


def _check_service(s: Settings, p: _Problems) -> None:
    """The smaller sections: digest, scheduler, alerts, the call collector, retention, logging."""
    p.check(1 <= s.digest.weekday <= 7, "digest.weekday", f"1 (Monday) to 7 (Sunday), got {s.digest.weekday}")
    p.check(0 <= s.digest.hour <= 23, "digest.hour", f"0 to 23 (Copenhagen time), got {s.digest.hour}")
    p.check(0 < s.scheduler.heartbeat_seconds < s.scheduler.stale_after_seconds, "scheduler.stale_after_seconds",
            "need 0 < heartbeat_seconds < stale_after_seconds", reads=("scheduler.heartbeat_seconds",))
    token = s.alerts.receiver_token
    p.check(not token or (len(token) >= 16 and token.isascii() and token.isprintable() and " " not in token),
            "alerts.receiver_token",
            "at least 16 printable ASCII characters without spaces (or empty: the receiver accepts nothing)")
    p.check(1024 <= s.alerts.max_body_bytes <= 100_000_000, "alerts.max_body_bytes",
            f"must be between 1024 and 100000000, got {s.alerts.max_body_bytes}")
    p.check(1024 <= s.collectors.calls.max_file_bytes <= MAX_FILE_BYTES, "collectors.calls.max_file_bytes",
            f"must be between 1024 and {MAX_FILE_BYTES}, got {s.collectors.calls.max_file_bytes}")
    reach = s.cutover.baseline_days * s.cutover.baseline_weeks + 1
    p.check(s.retention.hourly_days >= reach, "retention.hourly_days",
            f"must be at least {reach} (the cut-over baseline reads hourly counts baseline_days × "
            f"baseline_weeks back), got {s.retention.hourly_days}",
            reads=("cutover.baseline_days", "cutover.baseline_weeks"))
    p.check(s.logging.level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"), "logging.level",
            f"expected DEBUG, INFO, WARNING or ERROR, got {s.logging.level!r}")


def _validate(s: Settings, problems: _Problems) -> None:
    """Check every section's values, collecting every problem (the caller raises them together)."""
    slugs = s.component_slugs()
    _check_rating(s.rating, problems)
    _check_cutover(s.cutover, problems)
    _check_mail(s.mail, problems)
    _check_web(s.web, problems)
    _check_notices(s.notices, slugs, problems)
    _check_components(s.components, problems)
    _check_availability(s.availability, slugs, problems)
    _check_service(s, problems)


def from_mapping(data: dict[str, typing.Any], base_dir: str = ".", environ: typing.Mapping[str, str] | None = None
                 ) -> Settings:
    """Build validated settings from a parsed TOML mapping and an environment."""
    environ = os.environ if environ is None else environ
    cutover = data.get("cutover")
    if isinstance(cutover, dict) and "baseline_days" in cutover and "baseline_weeks" not in cutover:
        # A config written before baseline_weeks existed meant one earlier day or week.
        data = {**data, "cutover": {**cutover, "baseline_weeks": 1}}
    problems = _Problems()
    settings = _build(Settings, data, problems)
    changes: dict[str, typing.Any] = {"base_dir": str(Path(base_dir).resolve()),
                                      "secret_key": environ.get("MONITOR_SECRET_KEY", "")}
    if environ.get("MONITOR_DATABASE_URL"):
        changes["database"] = DatabaseSettings(url=environ["MONITOR_DATABASE_URL"])
    if environ.get("MONITOR_RATELIMIT_STORAGE"):
        changes["web"] = dataclasses.replace(settings.web, ratelimit_storage=environ["MONITOR_RATELIMIT_STORAGE"])
    if environ.get("MONITOR_SMTP_USERNAME") or environ.get("MONITOR_SMTP_PASSWORD"):
        changes["mail"] = dataclasses.replace(settings.mail,
                                              smtp_username=environ.get("MONITOR_SMTP_USERNAME", ""),
                                              smtp_password=environ.get("MONITOR_SMTP_PASSWORD", ""))
    if environ.get("MONITOR_ALERTS_RECEIVER_TOKEN"):
        changes["alerts"] = dataclasses.replace(settings.alerts,
                                                receiver_token=environ["MONITOR_ALERTS_RECEIVER_TOKEN"])
    changed: Settings = dataclasses.replace(settings, **changes)
    _validate(changed, problems)
    problems.raise_any()
    return changed


def load(path: str | os.PathLike[str] | None = None, environ: typing.Mapping[str, str] | None = None) -> Settings:
    """Load settings from `path`, else $MONITOR_CONFIG, else ./config.toml (defaults when absent)."""
    environ = os.environ if environ is None else environ
    explicit = path or environ.get("MONITOR_CONFIG")
    p = Path(explicit or DEFAULT_CONFIG)
    if not p.exists():
        if explicit:
            raise ConfigError(f"config file not found: {p}")
        return from_mapping({}, ".", environ)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    settings = from_mapping(data, str(p.parent), environ)
    return settings


def database_url(settings: Settings) -> str:
    """The database URL with a relative SQLite path resolved against the config folder."""
    url = settings.database.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str(settings.path(url[len(prefix):]))
    return url
