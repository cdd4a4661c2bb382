"""The `monitor` command line (click). `python -m monitor` is the same."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import logs
from . import settings as settings_module
from .collector_kinds import FILE_KINDS, SOURCE_KINDS
from .db import engine_for
from .localtime import CPH
from .settings import database_url


class KindChoice(click.Choice[str]):
    """The names of a kind registry (`monitor/collector_kinds.py`), read when the command line is.

    Only the names: the kinds' modules are loaded by the command that uses one.
    """

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = names
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names)

    @choices.setter
    def choices(self, value: object) -> None:
        """Click's own constructor sets the choices; they stay the registry's."""


@dataclass
class Context:
    """Settings and engine, loaded on first use so that `--help` needs no config."""

    config_path: str | None
    verbose: bool = False
    _settings: settings_module.Settings | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> settings_module.Settings:
        if self._settings is None:
            try:
                self._settings = settings_module.load(self.config_path)
            except settings_module.ConfigError as exc:
                raise SetupMissing(f"configuration: {exc}") from None
            logs.configure(self._settings.logging, self.verbose)
        return self._settings

    @property
    def engine(self) -> Engine:
        """The engine of a database that exists and has been migrated; else a one-line refusal."""
        if self._engine is None:
            self._engine = usable_engine(self.settings, self.config_hint())
        return self._engine

    @property
    def engine_to_create(self) -> Engine:
        """The engine for `db upgrade` and `demo`, which create the database when it is absent."""
        if self._engine is None:
            self._engine = engine_for(self.settings)
        return self._engine

    def config_hint(self) -> str:
        """Where the settings came from, and how to point at others."""
        explicit = self.config_path or os.environ.get("MONITOR_CONFIG")
        if explicit:
            return f"config {explicit}"
        if Path(settings_module.DEFAULT_CONFIG).exists():
            return f"config {Path(settings_module.DEFAULT_CONFIG).resolve()}"
        return (f"no config.toml in {Path.cwd()}: run in the project folder, "
                "or give --config PATH or set MONITOR_CONFIG")

    def close(self) -> None:
        """Close the database connections this command opened."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


pass_ctx = click.make_pass_decorator(Context)


class SetupMissing(click.ClickException):
    """No usable config or database: one line saying what to run, exit 2."""

    exit_code = 2


def usable_engine(settings: settings_module.Settings, hint: str) -> Engine:
    """The configured database's engine, refused in one line when it is absent or not migrated.

    A SQLite file that does not exist is not created (nor its folder): a command run in the
    wrong folder must not leave an empty database behind.
    """
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from .db import make_engine

    url = make_url(database_url(settings))
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        raise SetupMissing(f"no database at {url.database} ({hint}); `monitor db upgrade` creates it")
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            migrated = inspect(conn).has_table("alembic_version")
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SetupMissing(f"cannot reach the database {shown}: {reason} ({hint})") from None
    if not migrated:
        engine.dispose()
        raise SetupMissing(f"the database {shown} has no tables: run `monitor db upgrade` ({hint})")
    return engine


def refuse_changed_method(ctx: Context) -> None:
    """Stop when stored ratings carry this method version with other parameters."""
    from .rating.service import assert_method_consistent

    try:
        assert_method_consistent(ctx.engine, ctx.settings)
    except settings_module.ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def echo_lines(lines: list[str]) -> None:
    """Print each line (a command's report)."""
    for line in lines:
        click.echo(line)


def parse_now(value: str | None) -> dt.datetime:
    """A --now option: an ISO date-time (Copenhagen when it has no offset), default the current time."""
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date-time: {value!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=CPH)
    return t.astimezone(dt.UTC)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="MONITOR_CONFIG", type=click.Path(dir_okay=False),
              help="config.toml to use (default: $MONITOR_CONFIG, else ./config.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.pass_context
def cli(click_ctx: click.Context, config_path: str | None, verbose: bool, debug: bool) -> None:
    """Infrastrukturmonitor: ratings, driftsmeddelelser and cut-over health for FKI."""
    SHOW_TRACEBACK[0] = debug
    logs.configure(settings_module.LoggingSettings(), verbose)
    click_ctx.obj = Context(config_path, verbose)
    click_ctx.call_on_close(click_ctx.obj.close)


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply the migrations and load the reference data (idempotent)."""
    from .migrate import upgrade

    upgrade(ctx.engine_to_create, ctx.settings)
    click.echo(f"database is up to date ({ctx.engine.url.render_as_string(hide_password=True)})")


@db.command("check")
@pass_ctx
def db_check(ctx: Context) -> None:
    """Count rows that point at nothing (orphans) and impossible counts; exit 1 when any."""
    from sqlalchemy.orm import Session

    from .integrity import check

    with Session(ctx.engine) as session:
        findings = check(session)
    for finding in findings:
        click.echo(f"{finding.count:>12,}  {finding.kind}: {finding.description}")
    problems = sum(f.count for f in findings)
    if problems:
        kinds = sum(1 for f in findings if f.count)
        raise click.ClickException(f"{problems:,} row(s) with integrity problems, of {kinds} kind(s)")
    click.echo("no integrity problems found")


@db.command("partitions")
@click.option("--now", "now_text", metavar="TIME", help="Pretend it is TIME (ISO 8601; default now).")
@click.option("--month", "month_texts", metavar="YYYY-MM", multiple=True,
              help="Also make this month's partition (repeatable): an older month that a catch-up import needs.")
@pass_ctx
def db_partitions(ctx: Context, now_text: str | None, month_texts: tuple[str, ...]) -> None:
    """Make this and next month's partitions of hourly_calls, and each --month (PostgreSQL; run as its owner),
    and list them."""
    from sqlalchemy.orm import Session

    from . import partitions
    from .db import is_postgres

    try:
        months = [partitions.Month.parse(text) for text in month_texts]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    if not is_postgres(ctx.engine):
        click.echo("SQLite keeps hourly_calls in one table: there are no partitions to make")
        return
    now = parse_now(now_text)
    try:
        made = partitions.ensure_ahead(ctx.engine, ctx.settings, now, months)
    except partitions.PartitionsNotAllowed as exc:
        raise click.ClickException(str(exc)) from None
    with Session(ctx.engine) as session:
        existing = sorted(partitions.existing(session))
    click.echo(f"made: {', '.join(map(str, made)) or 'none (they existed)'}")
    click.echo(f"partitions of hourly_calls: {', '.join(map(str, existing))}")


@cli.command()
@click.option("--seed", type=int, default=2020, show_default=True, help="Random seed (same seed and --now, same country).")
@click.option("--size", type=click.Choice(["small", "full"]), default="full", show_default=True)
@click.option("--now", "now_text", metavar="TIME", help="Pretend it is TIME (ISO 8601; default now).")
@pass_ctx
def demo(ctx: Context, seed: int, size: str, now_text: str | None) -> None:
    """Fill the database with a believable demo country (replaces earlier demo data)."""
    from .demo import load_demo
    from .migrate import upgrade

    upgrade(ctx.engine_to_create, ctx.settings)
    summary = load_demo(ctx.engine, ctx.settings, seed=seed, size=size, now=parse_now(now_text))
    click.echo(summary)
    click.echo(demo_operator(ctx))


DEMO_OPERATOR = "drift@demo.invalid"


def demo_operator(ctx: Context) -> str:
    """Make the demo's operator and say how to sign in as it."""
    from sqlalchemy.orm import Session

    from .users import add_user, find_user

    with Session(ctx.engine) as session, session.begin():
        if find_user(session, DEMO_OPERATOR) is None:
            add_user(session, DEMO_OPERATOR, "operator", actor="demo")
    settings = ctx.settings
    mail = (f"the link arrives as an .eml file in {settings.path(settings.mail.outbox_dir)}"
            if settings.mail.backend == "file" else "the link arrives by mail")
    from .links import root

    # Without [web] base_url, links follow the port `monitor serve` is given; the demo cannot
    # know it yet, so it says which one it means.
    port = "" if settings.web.base_url else " (the default port of monitor serve; with --port P use port P)"
    return f"operator: sign in at {root(settings)}/login{port} as {DEMO_OPERATOR}; {mail}"


@cli.command("import")
@click.argument("kind", type=KindChoice(FILE_KINDS))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def import_(ctx: Context, kind: str, files: tuple[Path, ...]) -> None:
    """Import FILE… (CSV or JSON Lines); a file with errors is rejected whole."""
    from .cli_output import import_lines
    from .collectors.calls.importer import import_paths

    # Each file's report as soon as it is imported: a backfill of many large files shows progress.
    results = import_paths(ctx.engine, ctx.settings, kind, list(files), each=lambda r: echo_lines(import_lines([r])))
    sys.exit(0 if all(r.ok for r in results) else 1)


@cli.group()
def collect() -> None:
    """Run a collector once."""


@collect.command("notices")
@click.option("--source", "source", metavar="URL_OR_PATH", help="Poll this feed instead of the configured sources.")
@click.option("--kind", type=KindChoice(SOURCE_KINDS), help="Guessed from the content when not given.")
@pass_ctx
def collect_notices(ctx: Context, source: str | None, kind: str | None) -> None:
    """Poll the status-page sources once."""
    from .cli_output import notices_lines
    from .collectors.notices.httpfetch import FetchError
    from .collectors.notices.poll import configured_sources, source_spec
    from .migrate import upgrade
    from .notify.collect import poll_sources

    upgrade(ctx.engine, ctx.settings)
    if source is None:
        specs = configured_sources(ctx.settings)
        if not specs:
            click.echo("no [[notices.sources]] in the configuration; nothing to poll")
            sys.exit(0)
    else:
        try:
            specs = [source_spec(ctx.settings, source, kind)]
        except FetchError as exc:
            click.echo(f"{source}: FAILED: {exc}")
            sys.exit(1)
    outcomes = poll_sources(ctx.engine, ctx.settings, specs)
    echo_lines(notices_lines(outcomes))
    sys.exit(0 if all(o.ok for o in outcomes) else 1)


@collect.command("calls")
@pass_ctx
def collect_calls(ctx: Context) -> None:
    """Process the call-count inbox once."""
    from .cli_output import inbox_lines
    from .collectors.calls.importer import process_inbox

    result = process_inbox(ctx.engine, ctx.settings)
    echo_lines(inbox_lines(result, ctx.settings.path(ctx.settings.collectors.calls.inbox)))
    sys.exit(0 if result.ok else 1)


@cli.command()
@click.option("--as-of", "as_of", metavar="DATE", help="Rate as of DATE (default: today in Copenhagen).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document of GET /api/v1/ratings.")
@pass_ctx
def rate(ctx: Context, as_of: str | None, as_json: bool) -> None:
    """Rate all municipalities and store a snapshot revision."""
    import json

    from .cli_output import rating_table
    from .rating.service import MethodChanged, rate_and_store

    day = None
    if as_of:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise click.BadParameter(f"not an ISO date: {as_of!r}", param_hint="--as-of") from None
    try:
        doc = rate_and_store(ctx.engine, ctx.settings, day)
    except MethodChanged as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    echo_lines([json.dumps(doc, ensure_ascii=False)] if as_json else rating_table(doc))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler thread.")
@pass_ctx
def serve(ctx: Context, host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Serve the web application (waitress) with the scheduler in one thread."""
    from waitress import serve as waitress_serve

    from . import create_app
    from .db import session_factory
    from .links import record_served, serving
    from .migrate import upgrade
    from .signing import MissingSecretKey, settled
    from .web.guard import largest_body_bytes

    base = ctx.settings
    if not base.secret_key:
        # Without $MONITOR_SECRET_KEY the key kept in the database signs: no database, no key, no serving.
        try:
            upgrade(ctx.engine, ctx.settings)
            base = settled(base, session_factory(ctx.engine))
        except (SQLAlchemyError, MissingSecretKey) as exc:
            message = str(exc) if isinstance(exc, MissingSecretKey) else (
                "no secret key: MONITOR_SECRET_KEY is unset and the database that keeps the key cannot give it "
                f"({type(getattr(exc, 'orig', None) or exc).__name__}); set MONITOR_SECRET_KEY or make the "
                "database reachable")
            click.echo(f"monitor serve: {message}", err=True)
            sys.exit(2)
    else:
        upgrade(ctx.engine, ctx.settings)
    refuse_changed_method(ctx)
    settings, warning = serving(base, host, port)
    if warning:
        click.echo(warning, err=True)
    record_served(ctx.engine, settings)
    app = create_app(settings)
    scheduler = None
    if not no_scheduler:
        from .scheduler import start_background

        scheduler = start_background(settings)
    click.echo(f"serving on http://{host}:{port}/")
    try:
        # waitress reads a whole body before the app sees it: it refuses (413) one over any route's bound.
        body_bytes = largest_body_bytes(app, settings.web.max_body_bytes)
        waitress_serve(app, host=host, port=port, threads=threads, ident="infrastrukturmonitor",
                       max_request_body_size=body_bytes)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


@cli.command()
@pass_ctx
def scheduler(ctx: Context) -> None:
    """Run the scheduler in the foreground (one per installation; a second waits idle)."""
    from .scheduler import run_forever

    refuse_changed_method(ctx)
    run_forever(ctx.settings)


@cli.command()
@pass_ctx
def notify(ctx: Context) -> None:
    """Deliver the queued notifications once."""
    from .cli_output import notify_lines
    from .notify.outbox import deliver_due

    report = deliver_due(ctx.engine, ctx.settings)
    echo_lines(notify_lines(report))
    sys.exit(1 if (report.error or report.retry or report.failed) else 0)


@cli.group()
def webhooks() -> None:
    """Webhook subscribers (a Teams or Slack channel receiving JSON), managed by the operator.

    A webhook URL is a secret only the operator holds, so it is registered here rather than
    through the public form, and counts as confirmed at once.
    """


@webhooks.command("add")
@click.argument("url")
@click.option("--component", "components", multiple=True, metavar="SLUG",
              help="A component to follow (repeat; none: all).")
@click.option("--language", type=click.Choice(["da", "en"]), default="da", show_default=True)
@pass_ctx
def webhooks_add(ctx: Context, url: str, components: tuple[str, ...], language: str) -> None:
    """Register a webhook, or change what it follows."""
    from sqlalchemy.orm import Session

    from .notify.subscriptions import AddressError, add_webhook

    with Session(ctx.engine) as session, session.begin():
        try:
            sub = add_webhook(session, url, list(components), language)
        except (AddressError, ValueError) as exc:
            raise click.ClickException(f"refused: {exc}") from None
        following = ", ".join(s.component_slug for s in sub.subscriptions) or "all components"
        click.echo(f"webhook {sub.id} follows {following}")


@webhooks.command("remove")
@click.argument("url")
@pass_ctx
def webhooks_remove(ctx: Context, url: str) -> None:
    """Stop sending to a webhook (its record is deleted after the grace period)."""
    from sqlalchemy.orm import Session

    from .notify.subscriptions import remove_webhook

    with Session(ctx.engine) as session, session.begin():
        if not remove_webhook(session, url):
            raise click.ClickException("no such active webhook")
    click.echo("webhook removed (deleted after the grace period)")


@webhooks.command("list")
@pass_ctx
def webhooks_list(ctx: Context) -> None:
    """List the webhooks in full, and count the email subscribers."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from .models import Subscriber

    with Session(ctx.engine) as session:
        rows = session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        emails = [r for r in rows if r.channel == "email"]
        active = sum(1 for r in emails if r.confirmed_at and not r.unsubscribed_at)
        click.echo(f"email subscribers: {active} active, {len(emails) - active} pending or unsubscribed")
        for r in rows:
            if r.channel == "webhook":
                state = "unsubscribed" if r.unsubscribed_at else "active"
                following = ", ".join(sorted(s.component_slug for s in r.subscriptions)) or "all"
                click.echo(f"webhook {r.id} {state} [{following}] {r.address}")


@cli.group()
def users() -> None:
    """Operators: the people who may sign in to the service-health page and act as operator.

    An operator signs in with a link mailed to the address; there are no passwords.
    """


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["operator"]), default="operator", show_default=True)
@pass_ctx
def users_add(ctx: Context, email: str, role: str) -> None:
    """Add an operator (or change the role of one)."""
    from sqlalchemy.orm import Session

    from .users import UserError, add_user

    with Session(ctx.engine) as session, session.begin():
        try:
            user = add_user(session, email, role)
        except UserError as exc:
            raise click.ClickException(f"refused: {exc}") from None
        click.echo(f"{user.email} is an {user.role}; sign in at /login")


@users.command("remove")
@click.argument("email")
@pass_ctx
def users_remove(ctx: Context, email: str) -> None:
    """Remove an operator: their sessions and sign-in links stop working at once."""
    from sqlalchemy.orm import Session

    from .users import remove_user

    with Session(ctx.engine) as session, session.begin():
        if not remove_user(session, email):
            raise click.ClickException("no such operator")
    click.echo("operator removed")


@users.command("list")
@pass_ctx
def users_list(ctx: Context) -> None:
    """List the operators with their role and last sign-in."""
    from sqlalchemy.orm import Session

    from .users import list_users

    with Session(ctx.engine) as session:
        rows = list_users(session)
        if not rows:
            click.echo("no operators yet: add one with `monitor users add EMAIL --role operator`")
        for u in rows:
            last = u.last_sign_in_at.astimezone(CPH).strftime("%Y-%m-%d %H:%M %Z") if u.last_sign_in_at else "never"
            click.echo(f"{u.email}\t{u.role}\tlast sign-in: {last}")


@users.command("sessions")
@click.option("--revoke", "target", metavar="EMAIL|ID",
              help="End the live sessions of this operator, or the one session with this id (as listed).")
@click.option("--revoke-all", is_flag=True, help="End every live session: every operator must sign in again.")
@pass_ctx
def users_sessions(ctx: Context, target: str | None, revoke_all: bool) -> None:
    """List the live sign-in sessions (id, operator, started, ends), or end some with --revoke."""
    from sqlalchemy.orm import Session

    from .db import utcnow
    from .users import live_sessions, revoke_sessions

    if target is not None and revoke_all:
        raise click.UsageError("give either --revoke EMAIL|ID or --revoke-all")
    now = utcnow()
    with Session(ctx.engine) as session, session.begin():
        if target is not None or revoke_all:
            ended = revoke_sessions(session, now, target)
            if target is not None and not ended:
                raise click.ClickException(f"no live session of {target!r}")
            click.echo(f"{ended} session(s) ended")
            return
        rows = live_sessions(session, now)
        if not rows:
            click.echo("no live sessions")
        for row in rows:
            started = row.created_at.astimezone(CPH).strftime("%Y-%m-%d %H:%M %Z")
            ends = row.expires_at.astimezone(CPH).strftime("%Y-%m-%d %H:%M %Z")
            click.echo(f"{row.short_id}\t{row.email}\tsince {started}\tuntil {ends}")


@cli.group()
def corrections() -> None:
    """Corrections of a rating: agreements an operator agreed are in use (recorded on /drift)."""


@corrections.command("list")
@click.option("--all", "include_withdrawn", is_flag=True, help="Also the corrections withdrawn.")
@pass_ctx
def corrections_list(ctx: Context, include_withdrawn: bool) -> None:
    """List the corrections in force (id, municipality, agreement, since, by, reason)."""
    from sqlalchemy.orm import Session

    from .rating import corrections as rating_corrections

    with Session(ctx.engine) as session:
        rows = rating_corrections.listing(session, include_withdrawn)
        if not rows:
            click.echo("no corrections" + ("" if include_withdrawn else " in force"))
        for c in rows:
            since = c.created_at.astimezone(CPH).strftime("%Y-%m-%d %H:%M %Z")
            state = (f"withdrawn {c.withdrawn_at.astimezone(CPH).strftime('%Y-%m-%d %H:%M %Z')}"
                     if c.withdrawn_at else "in force")
            click.echo(f"{c.id}\t{c.municipality_code}\t{c.agreement_uuid}\tsince {since}\tby {c.created_by}\t"
                       f"{state}\t{c.reason}")


@corrections.command("withdraw")
@click.argument("correction_id", type=click.IntRange(min=1))
@pass_ctx
def corrections_withdraw(ctx: Context, correction_id: int) -> None:
    """Withdraw correction ID: the next rating counts the agreement as before (the row is kept)."""
    from sqlalchemy.orm import Session

    from .db import utcnow
    from .rating import corrections as rating_corrections
    from .users import audit

    now = utcnow()
    with Session(ctx.engine) as session, session.begin():
        try:
            row = rating_corrections.withdraw(session, correction_id, now)
        except rating_corrections.WithdrawRefused as refused:
            raise click.ClickException({"unknown": f"no correction {correction_id}",
                                        "withdrawn": f"correction {correction_id} is withdrawn already"}[refused.reason]
                                       ) from None
        agreement = row.agreement_uuid
        audit(session, "cli", "rating.correct.withdraw",
              f"municipality {row.municipality_code}: correction {row.id} of agreement {agreement} withdrawn", now)
    click.echo(f"correction {correction_id} withdrawn; the next rating (monitor rate, or the daily run) counts "
               f"agreement {agreement} as before")


@cli.group()
def tokens() -> None:
    """Bearer tokens for POST /api/v1/imports/calls, one per supplier; only their hash is stored."""


@tokens.command("add")
@click.argument("name")
@pass_ctx
def tokens_add(ctx: Context, name: str) -> None:
    """Make a token for supplier NAME and print it once: it cannot be shown again."""
    from sqlalchemy.orm import Session

    from .db import utcnow
    from .importtokens import TokenError, add_token

    with Session(ctx.engine) as session, session.begin():
        try:
            _, token = add_token(session, name, utcnow())
        except TokenError as exc:
            raise click.ClickException(f"refused: {exc}") from None
    click.echo(token)
    click.echo(f"the token of {name}; it is shown only now: send it with "
               "`Authorization: Bearer TOKEN` to POST /api/v1/imports/calls", err=True)


@tokens.command("remove")
@click.argument("name")
@pass_ctx
def tokens_remove(ctx: Context, name: str) -> None:
    """Revoke the token of supplier NAME: it stops working at once."""
    from sqlalchemy.orm import Session

    from .importtokens import remove_token

    with Session(ctx.engine) as session, session.begin():
        if not remove_token(session, name):
            raise click.ClickException(f"no token named {name!r}")
    click.echo(f"token of {name} removed")


@tokens.command("list")
@pass_ctx
def tokens_list(ctx: Context) -> None:
    """List the tokens: name, when made, when last used (never the token)."""
    from sqlalchemy.orm import Session

    from .importtokens import list_tokens

    def local(at: dt.datetime | None) -> str:
        return at.astimezone(CPH).strftime("%Y-%m-%d %H:%M %Z") if at else "never"

    with Session(ctx.engine) as session:
        rows = list_tokens(session)
        if not rows:
            click.echo("no tokens yet: make one with `monitor tokens add NAME`")
        for row in rows:
            click.echo(f"{row.name}\tcreated {local(row.created_at)}\tlast used: {local(row.last_used_at)}")


@cli.group()
def subscribers() -> None:
    """Email subscribers: invitations, and requests under the GDPR (export, delete)."""


@subscribers.command("invite")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--campaign", metavar="NAME", help="Campaign name (default: the file's name without extension). "
              "An address is invited once per campaign, whatever the number of runs.")
@pass_ctx
def subscribers_invite(ctx: Context, file: Path, campaign: str | None) -> None:
    """Invite the addresses in FILE (one a line, or CSV email[,components][,language]) to subscribe."""
    from .cli_output import invite_lines
    from .notify.invitations import InvitationFileError, invite_file

    try:
        report = invite_file(ctx.engine, ctx.settings, file, campaign)
    except InvitationFileError as exc:
        click.echo(f"refused: {exc}")
        sys.exit(2)
    echo_lines(invite_lines(report, ctx.settings.mail.invitations_per_minute))
    sys.exit(1 if report.refused else 0)


def _address(text: str) -> str:
    from .notify.subscriptions import AddressError, normalise_email

    try:
        return normalise_email(text)
    except AddressError:
        return text.strip().lower()


@subscribers.command("export")
@click.argument("address")
@pass_ctx
def subscribers_export(ctx: Context, address: str) -> None:
    """Print everything held on ADDRESS as JSON (the same as the manage page's download)."""
    import json

    from sqlalchemy.orm import Session

    from .notify.privacy import export_data

    with Session(ctx.engine) as session:
        document = export_data(session, _address(address))
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@subscribers.command("delete")
@click.argument("address")
@pass_ctx
def subscribers_delete(ctx: Context, address: str) -> None:
    """Erase ADDRESS now, not after the grace period; it is never invited again."""
    from sqlalchemy.orm import Session

    from .notify.privacy import erase

    normalised = _address(address)
    with Session(ctx.engine) as session, session.begin():
        held = erase(session, normalised)
    click.echo(f"deleted everything held on {normalised}" if held else f"nothing was held on {normalised}; "
               "it will not be invited")


@cli.command()
@click.option("--now", "now_text", metavar="TIME", help="Run as at this ISO 8601 time (default: now).")
@pass_ctx
def digest(ctx: Context, now_text: str | None) -> None:
    """Queue this week's digest to each municipality's mailboxes (once per week; `monitor notify` sends)."""
    from .notify.digest import run

    click.echo(run(ctx.engine, ctx.settings, parse_now(now_text)).line())


@cli.group()
def municipalities() -> None:
    """The municipalities' infrastructure mailboxes."""


@municipalities.command("contacts")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def municipalities_contacts(ctx: Context, file: Path) -> None:
    """Import the mailboxes in FILE (code;email[;language], one a line); a file with a bad line keeps nothing."""
    from sqlalchemy.orm import Session

    from .notify.contacts import ContactFileError, import_contacts, read_file

    try:
        text = read_file(file)
    except ContactFileError as exc:
        click.echo(f"refused: {exc}")
        sys.exit(2)
    with Session(ctx.engine) as session:
        report = import_contacts(session, text)
        if not report.errors:
            session.commit()
    echo_lines(report.lines())
    sys.exit(1 if report.errors else 0)


SHOW_TRACEBACK = [False]  # set by --debug for main(), which runs after the group's context has closed


def main() -> None:
    """Entry point of the `monitor` console script: an unexpected error is one line without --debug."""
    try:
        cli(prog_name="monitor")
    except Exception as exc:
        if SHOW_TRACEBACK[0]:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        click.echo(f"error: {type(exc).__name__}: {first} (run with --debug for the traceback)", err=True)
        sys.exit(1)
