"""Settings: config.toml plus environment, parsed once into frozen, validated dataclasses.

Every key has a type; an unknown key, a wrong type or a bad value stops the start with a
`ConfigError` naming the key (e.g. ``rating.weights.calls_per_citizen``). Relative paths in
the file are relative to the file's own folder. Secrets come from the environment only.
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
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = "config.toml"
# The Flask-Limiter (limits) storages this service is meant to share its counts through.
RATELIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster", "memcached")
# How far back the cut-over baseline may reach (baseline_days × baseline_weeks).
MAX_BASELINE_DAYS = 371
MAX_FILE_BYTES = 1024 ** 3  # a posted call-count file is read into memory whole: 1 GiB at most


class ConfigError(Exception):
    """A configuration value is missing, unknown or invalid; the message names the key."""


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

    def path(self, value: str) -> Path:
        """Resolve a path from the config relative to the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def component_slugs(self) -> list[str]:
        """The configured component slugs, in their configured order."""
        return [c.slug for c in self.components]


# Fields that may only come from the environment.
_ENV_ONLY = {"mail.smtp_username", "mail.smtp_password", "base_dir", "secret_key"}


def _convert(value: typing.Any, tp: typing.Any, key: str) -> typing.Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        return _build(tp, value, key + ".")
    if origin is tuple:
        item_tp = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is dt.datetime:
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ConfigError(f"{key}: expected an offset date-time such as 2020-11-28T08:00:00+01:00, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover


def _build(cls: type, data: dict[str, typing.Any], prefix: str = "") -> typing.Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names or f"{prefix}{key}" in _ENV_ONLY:
            raise ConfigError(f"{prefix}{key}: unknown key")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(data[f.name], hints[f.name], prefix + f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}{f.name}: required key is missing")
    return cls(**kwargs)


def _validate(s: Settings) -> None:
    r = s.rating
    w = r.weights
    for name, v in dataclasses.asdict(w).items():
        if v < 0:
            raise ConfigError(f"rating.weights.{name}: must not be negative, got {v}")
    total = w.service_agreements + w.calls_per_citizen + w.it_systems_with_calls
    if abs(total - 1) > 1e-6:
        raise ConfigError(f"rating.weights: must sum to 1, they sum to {total:g}")
    if r.active_ref < 1:
        raise ConfigError(f"rating.active_ref: must be at least 1, got {r.active_ref:g}")
    if not 0 < r.cpc_lo < r.cpc_hi:
        raise ConfigError(f"rating.cpc_lo, rating.cpc_hi: need 0 < cpc_lo < cpc_hi, got {r.cpc_lo:g}, {r.cpc_hi:g}")
    for key in ("window_days", "redundant_after_days"):
        if getattr(r, key) < 1:
            raise ConfigError(f"rating.{key}: must be at least 1")
    if not r.method_version.strip():
        raise ConfigError("rating.method_version: must not be empty")
    try:
        dt.time.fromisoformat(r.daily_at)
    except ValueError:
        raise ConfigError(f"rating.daily_at: expected HH:MM, got {r.daily_at!r}") from None
    for i, outage in enumerate(r.planned_outages):
        if outage.end <= outage.start:
            raise ConfigError(f"rating.planned_outages[{i}].end: must be after start")
    c = s.cutover
    if c.start and c.end and c.end <= c.start:
        raise ConfigError("cutover.end: must be after cutover.start")
    for key in ("lookback_hours", "baseline_days", "baseline_weeks", "silent_count"):
        if getattr(c, key) < 1:
            raise ConfigError(f"cutover.{key}: must be at least 1")
    if c.baseline_days * c.baseline_weeks > MAX_BASELINE_DAYS:
        raise ConfigError(f"cutover.baseline_weeks: the baseline reaches back at most {MAX_BASELINE_DAYS} days "
                          f"(baseline_days × baseline_weeks), got {c.baseline_days * c.baseline_weeks}")
    if not 0 < c.silent_share <= 1:
        raise ConfigError(f"cutover.silent_share: need 0 < silent_share <= 1, got {c.silent_share:g}")
    if not 0 <= c.red_ratio <= c.green_ratio:
        raise ConfigError("cutover.red_ratio: need 0 <= red_ratio <= green_ratio")
    if not 0 <= c.yellow_error_ratio <= c.red_error_ratio <= 1:
        raise ConfigError("cutover.yellow_error_ratio: need 0 <= yellow_error_ratio <= red_error_ratio <= 1")
    if not 0 < c.significance < 1:
        raise ConfigError(f"cutover.significance: need 0 < significance < 1, got {c.significance:g}")
    if c.ack_hours < 1:
        raise ConfigError("cutover.ack_hours: must be at least 1")
    if c.support_url and not c.support_url.startswith(("https://", "http://")):
        raise ConfigError(f"cutover.support_url: expected an http(s) URL, got {c.support_url!r}")
    if s.mail.backend not in ("smtp", "file"):
        raise ConfigError(f"mail.backend: expected \"smtp\" or \"file\", got {s.mail.backend!r}")
    if not 1 <= s.mail.invitations_per_minute <= 10_000:
        raise ConfigError("mail.invitations_per_minute: must be between 1 and 10000")
    if s.web.base_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", s.web.base_url):
        raise ConfigError(f"web.base_url: expected an http(s) URL such as https://monitor.example.dk, "
                          f"got {s.web.base_url!r}")
    if s.notices.poll_seconds < 1:
        raise ConfigError("notices.poll_seconds: must be at least 1")
    for key, least in (("max_feed_bytes", 1024), ("max_items", 1), ("max_update_bytes", 256),
                       ("max_mails_per_subscriber_hour", 1), ("max_new_per_poll", 1)):
        if getattr(s.notices, key) < least:
            raise ConfigError(f"notices.{key}: must be at least {least}, got {getattr(s.notices, key)}")
    for key, least in (("max_query_bytes", 256), ("max_body_bytes", 1024), ("cache_bytes", 0)):
        if getattr(s.web, key) < least:
            raise ConfigError(f"web.{key}: must be at least {least}, got {getattr(s.web, key)}")
    if not 1 <= s.digest.weekday <= 7:
        raise ConfigError(f"digest.weekday: 1 (Monday) to 7 (Sunday), got {s.digest.weekday}")
    if not 0 <= s.digest.hour <= 23:
        raise ConfigError(f"digest.hour: 0 to 23 (Copenhagen time), got {s.digest.hour}")
    hours = s.notices.reminders_hours
    if len(hours) > 5 or len(set(hours)) != len(hours) or not all(1 <= h <= 720 for h in hours):
        raise ConfigError(f"notices.reminders_hours: at most 5 different whole hours from 1 to 720, got {list(hours)}")
    for i, src in enumerate(s.notices.sources):
        if src.kind not in ("feed", "statuspage"):
            raise ConfigError(f"notices.sources[{i}].kind: expected \"feed\" or \"statuspage\", got {src.kind!r}")
    slugs = [c.slug for c in s.components]
    for i, comp in enumerate(s.components):
        if not comp.slug or not all(ch.isascii() and (ch.islower() or ch.isdigit() or ch == "-") for ch in comp.slug):
            raise ConfigError(f"components[{i}].slug: lower-case ASCII letters, digits and '-' only, got {comp.slug!r}")
    if len(set(slugs)) != len(slugs):
        raise ConfigError("components: slugs must be unique")
    for i, src in enumerate(s.notices.sources):
        for slug in src.components:
            if slug not in slugs:
                raise ConfigError(f"notices.sources[{i}].components: unknown component {slug!r}")
    a = s.availability
    if not 0 <= a.partial_weight <= 1:
        raise ConfigError(f"availability.partial_weight: need 0 <= partial_weight <= 1, got {a.partial_weight:g}")
    for i, t in enumerate(a.targets):
        if t.component not in slugs:
            raise ConfigError(f"availability.targets[{i}].component: unknown component {t.component!r}")
        if not 0 < t.target < 1:
            raise ConfigError(f"availability.targets[{i}].target: need 0 < target < 1, got {t.target:g}")
    if len({t.component for t in a.targets}) != len(a.targets):
        raise ConfigError("availability.targets: one target per component")
    if not 0 < s.scheduler.heartbeat_seconds < s.scheduler.stale_after_seconds:
        raise ConfigError("scheduler.stale_after_seconds: need 0 < heartbeat_seconds < stale_after_seconds")
    contact = s.web.accessibility_contact
    local, at, domain = contact.partition("@")
    if not (at and local and "." in domain and "@" not in domain and len(contact) <= 254
            and not any(ch.isspace() or ch in "<>\"" for ch in contact)):
        raise ConfigError(f"web.accessibility_contact: expected a mail address, got {contact!r}")
    for key in ("session_hours", "login_link_minutes", "login_mail_seconds"):
        if getattr(s.web, key) < 1:
            raise ConfigError(f"web.{key}: must be at least 1")
    if not 0 <= s.web.trusted_proxies <= 10:
        raise ConfigError(f"web.trusted_proxies: expected a number of proxy hops from 0 to 10, "
                          f"got {s.web.trusted_proxies!r}")
    if s.mail.retention_days < 1:
        raise ConfigError("mail.retention_days: must be at least 1")
    scheme = s.web.ratelimit_storage.partition("://")[0]
    if "://" not in s.web.ratelimit_storage or scheme not in RATELIMIT_SCHEMES:
        raise ConfigError(f"web.ratelimit_storage: expected a storage URI such as memory:// or "
                          f"redis://127.0.0.1:6379/0, got {s.web.ratelimit_storage!r}")
    token = s.alerts.receiver_token
    if token and (len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token):
        raise ConfigError("alerts.receiver_token: at least 16 printable ASCII characters without spaces "
                          "(or empty: the receiver accepts nothing)")
    if not 1024 <= s.alerts.max_body_bytes <= 100_000_000:
        raise ConfigError(f"alerts.max_body_bytes: must be between 1024 and 100000000, got {s.alerts.max_body_bytes}")
    if not 1024 <= s.collectors.calls.max_file_bytes <= MAX_FILE_BYTES:
        raise ConfigError(f"collectors.calls.max_file_bytes: must be between 1024 and {MAX_FILE_BYTES}, "
                          f"got {s.collectors.calls.max_file_bytes}")
    reach = c.baseline_days * c.baseline_weeks + 1
    if s.retention.hourly_days < reach:
        raise ConfigError(f"retention.hourly_days: must be at least {reach} (the cut-over baseline reads hourly "
                          f"counts baseline_days × baseline_weeks back), got {s.retention.hourly_days}")
    if s.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"logging.level: expected DEBUG, INFO, WARNING or ERROR, got {s.logging.level!r}")


def from_mapping(data: dict[str, typing.Any], base_dir: str = ".", environ: typing.Mapping[str, str] | None = None
                 ) -> Settings:
    """Build validated settings from a parsed TOML mapping and an environment."""
    environ = os.environ if environ is None else environ
    cutover = data.get("cutover")
    if isinstance(cutover, dict) and "baseline_days" in cutover and "baseline_weeks" not in cutover:
        # A config written before baseline_weeks existed meant one earlier day or week.
        data = {**data, "cutover": {**cutover, "baseline_weeks": 1}}
    settings = _build(Settings, data)
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
    _validate(changed)
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
