"""Webhook subscribers, managed by the operator: ``python -m monitor.notify …``.

    python -m monitor.notify add-webhook URL [--component SLUG]… [--language da|en]
    python -m monitor.notify remove-webhook URL
    python -m monitor.notify list

A webhook URL (a Teams or Slack incoming webhook, say) is a secret that only the operator
holds, so it is registered here rather than through the public form, and counts as
confirmed at once. Uses the same configuration as `monitor` ($MONITOR_CONFIG or --config).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import settings as settings_module
from ..db import engine_for
from ..models import Subscriber
from .subscriptions import AddressError, add_webhook, remove_webhook


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m monitor.notify", description="Webhook subscribers.")
    parser.add_argument("--config", help="config.toml (default: $MONITOR_CONFIG, else ./config.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-webhook", help="register or update a webhook")
    add.add_argument("url")
    add.add_argument("--component", action="append", default=[], metavar="SLUG",
                     help="a component to follow (repeat; none: all)")
    add.add_argument("--language", choices=("da", "en"), default="da")
    remove = commands.add_parser("remove-webhook", help="stop sending to a webhook")
    remove.add_argument("url")
    commands.add_parser("list", help="list the subscribers (webhooks in full, email addresses counted)")
    args = parser.parse_args(argv)

    try:
        settings = settings_module.load(args.config)
    except settings_module.ConfigError as exc:
        print(f"configuration: {exc}", file=sys.stderr)
        return 2
    engine = engine_for(settings)
    try:
        with Session(engine) as session, session.begin():
            if args.command == "add-webhook":
                try:
                    sub = add_webhook(session, args.url, args.component, args.language)
                except (AddressError, ValueError) as exc:
                    print(f"refused: {exc}", file=sys.stderr)
                    return 1
                following = ", ".join(s.component_slug for s in sub.subscriptions) or "all components"
                print(f"webhook {sub.id} follows {following}")
            elif args.command == "remove-webhook":
                if not remove_webhook(session, args.url):
                    print("no such active webhook", file=sys.stderr)
                    return 1
                print("webhook removed (deleted after the grace period)")
            else:
                rows = session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
                emails = [r for r in rows if r.channel == "email"]
                active = sum(1 for r in emails if r.confirmed_at and not r.unsubscribed_at)
                print(f"email subscribers: {active} active, {len(emails) - active} pending or unsubscribed")
                for r in rows:
                    if r.channel == "webhook":
                        state = "unsubscribed" if r.unsubscribed_at else "active"
                        following = ", ".join(sorted(s.component_slug for s in r.subscriptions)) or "all"
                        print(f"webhook {r.id} {state} [{following}] {r.address}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
