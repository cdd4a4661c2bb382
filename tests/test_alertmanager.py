"""deploy/alertmanager/alertmanager.yml: amtool accepts it and routes each alert where it belongs; a real
Alertmanager fed by a real Prometheus scraping the demo turns a platform fault into one operations
notification, and municipality faults into one mail to each municipality's mailbox."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update

from monitor import create_app
from monitor.db import make_engine, session_factory
from monitor.demo import demo_window, load_demo
from monitor.localtime import CPH
from monitor.models import HourlyCallCount, Mail, MunicipalityContact
from monitor.notify.collect import poll_all
from monitor.rating.service import store_snapshot
from tests.alert_helpers import TOKEN
from tests.conftest import make_settings, need
from tests.notify_helpers import WebhookReceiver
from tests.prometheus_helpers import running_prometheus, served
from tests.test_metrics_gunicorn import free_port
from tests.waiting import wait_until

DEPLOY = Path(__file__).parent.parent / "deploy"
CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def binary(name: str, *candidates: str) -> str:
    found = next((b for b in (shutil.which(c) for c in candidates) if b), None)
    if found is None:
        need(f"{name} is not installed (Debian package prometheus-alertmanager)")
    assert found is not None
    return found


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("amtool", "amtool"), *args], capture_output=True, text=True)


@pytest.mark.prometheus
def test_amtool_accepts_the_configuration():
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "1 inhibit rules" in result.stdout


@pytest.mark.prometheus
@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=FkiMunicipalityRed", "municipality=751", "severity=critical"], "infrastrukturmonitor"),
    (["alertname=FkiPlatformDegraded", "scope=platform", "severity=critical"], "operations"),
    (["alertname=FkiCollectorStale", "collector=notices", "severity=warning"], "operations"),
    (["alertname=FkiDatabaseUnreadable", "severity=critical"], "operations"),
])
def test_each_alert_is_routed_to_its_receiver(labels, receiver):
    result = amtool("config", "routes", "test", "--config.file", str(CONFIG), "--verify.receivers", receiver, *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_the_platform_alert_inhibits_every_municipality_alert_and_groups_are_per_municipality():
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    municipal = next(r for r in config["route"]["routes"] if r["receiver"] == "infrastrukturmonitor")
    assert municipal["group_by"] == ["municipality"]
    assert config["inhibit_rules"] == [{"source_matchers": ['alertname="FkiPlatformDegraded"'],
                                        "target_matchers": ['municipality=~".+"']}]
    webhook = next(r for r in config["receivers"] if r["name"] == "infrastrukturmonitor")["webhook_configs"][0]
    assert webhook["url"].endswith("/api/v1/alertmanager") and webhook["send_resolved"] is True
    assert webhook["http_config"]["authorization"]["type"] == "Bearer"


# --- A real Prometheus and a real Alertmanager over the demo --------------------------------------

def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (a local test server)
        return json.loads(response.read())


def metric(base: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` with `labels` on Alertmanager's own /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rules_without_delays(tmp_path: Path) -> list[Path]:
    """The project's rules with every `for` taken out, so that a test need not wait half an hour."""
    out = []
    for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                rule.pop("for", None)
        target = tmp_path / f"rules-{path.name}"
        target.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        out.append(target)
    return out


@contextmanager
def running_alertmanager(tmp_path: Path, service: str, operations: str, repeat: str) -> Iterator[str]:
    """The project's Alertmanager configuration with short intervals, its receivers pointed at the
    served app (`service`, "127.0.0.1:PORT") and at `operations` (a URL); yields "127.0.0.1:PORT"."""
    program = binary("alertmanager", "prometheus-alertmanager", "alertmanager")
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for route in [config["route"], *config["route"]["routes"]]:
        route.update({"group_wait": "1s", "group_interval": "1s", "repeat_interval": repeat})
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "operations-url").write_text(operations)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"http://{service}/api/v1/alertmanager"
            hook["http_config"]["authorization"]["credentials_file"] = str(tmp_path / "token")
        for slack in receiver.get("slack_configs", []):
            slack["api_url_file"] = str(tmp_path / "operations-url")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen([program, f"--config.file={path}", f"--storage.path={tmp_path / 'am-data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    address = f"127.0.0.1:{port}"
    try:
        def up() -> object:
            if proc.poll() is not None:
                pytest.fail("alertmanager exited: " + proc.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
            with urllib.request.urlopen(f"http://{address}/-/ready", timeout=5) as response:  # noqa: S310
                return response.status == 200

        wait_until(up, "alertmanager to start", tolerate=(OSError,), every=0.3)
        yield address
    finally:
        proc.terminate()
        proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]


def served_demo(tmp_path: Path, url: str, platform_fault: bool) -> Iterator[tuple[str, object]]:
    """The small demo at the real time (Prometheus's clock), with the receiver's token; with
    `platform_fault`, every call after the window is gone (every judged municipality red)."""
    feed = tmp_path / "demo-status.rss"
    settings = make_settings(tmp_path, url, demo={"feed_path": str(feed)}, alerts={"receiver_token": TOKEN},
                             notices={"sources": [{"name": "Demo", "url": str(feed), "kind": "feed"}]})
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    load_demo(engine, settings, seed=1, size="small", now=now)
    store_snapshot(engine, settings, now.astimezone(CPH).date(), now=now)
    poll_all(engine, settings, now=now)
    if platform_fault:
        with session_factory(engine)() as session:
            window = demo_window(session)
            assert window is not None
            session.execute(update(HourlyCallCount).where(HourlyCallCount.hour >= window[1]).values(calls=0, errors=0))
            session.commit()
    with served(create_app(settings)) as address:
        yield address, engine
    engine.dispose()


def prometheus_ready(base: str) -> bool:
    return bool(get_json(f"{base}/api/v1/query?query=count_over_time(fki_build_info[1m])>=2")["data"]["result"])  # type: ignore[index]


def alerts_in(am: str) -> list[dict]:
    return get_json(f"http://{am}/api/v2/alerts")  # type: ignore[return-value]


@pytest.mark.prometheus
def test_a_platform_fault_is_one_operations_notification_and_no_municipality_is_mailed(tmp_path, sqlite_url):
    for address, engine in served_demo(tmp_path, sqlite_url, platform_fault=True):
        with WebhookReceiver() as operations, \
                running_alertmanager(tmp_path, address, operations.url, repeat="1h") as am, \
                running_prometheus(tmp_path, address, prometheus_ready, rules=rules_without_delays(tmp_path),
                                   alertmanager=am):
            def settled() -> object:
                alerts = alerts_in(am)
                platform = [a for a in alerts if a["labels"]["alertname"] == "FkiPlatformDegraded"]
                municipal = [a for a in alerts if a["labels"]["alertname"] == "FkiMunicipalityRed"]
                held = [a for a in municipal if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]]
                return platform and len(municipal) > 10 and len(held) == len(municipal) and operations.bodies

            wait_until(settled, "the platform alert to be notified and the municipality alerts to be held back")
            municipal = [a for a in alerts_in(am) if a["labels"]["alertname"] == "FkiMunicipalityRed"]
            # One fault, one notification: not one per municipality. Only the platform alert's count:
            # with the suite's clock moved (MONITOR_TEST_CLOCK) Prometheus, on the real clock, also
            # sees the demo's collectors as stale, a separate alert of its own.
            about = [json.dumps(json.loads(body)) for body in operations.bodies]
            assert len([m for m in about if "FkiPlatformDegraded" in m]) == 1
            assert not [m for m in about if "FkiMunicipalityRed" in m]
            assert metric(f"http://{am}", "alertmanager_notifications_total", integration="webhook") == 0
            with session_factory(engine)() as session:  # type: ignore[arg-type]
                assert session.scalars(select(Mail).where(Mail.kind == "alert")).all() == []
            assert len(municipal) > 10


@pytest.mark.prometheus
def test_municipality_faults_are_one_mail_to_each_municipalitys_mailbox_once(tmp_path, sqlite_url):
    for address, engine in served_demo(tmp_path, sqlite_url, platform_fault=False):
        with WebhookReceiver() as operations, \
                running_alertmanager(tmp_path, address, operations.url, repeat="1s") as am, \
                running_prometheus(tmp_path, address, prometheus_ready, rules=rules_without_delays(tmp_path),
                                   alertmanager=am):
            def red_groups() -> set[str]:
                return {a["labels"]["municipality"] for a in alerts_in(am)
                        if a["labels"]["alertname"] == "FkiMunicipalityRed" and a["status"]["state"] == "active"}

            codes = wait_until(red_groups, "the demo's red municipalities to reach Alertmanager")
            assert not [a for a in alerts_in(am) if a["labels"]["alertname"] == "FkiPlatformDegraded"]
            # Every group notified, then notified again (repeat_interval 1s): the service heard each twice.
            expected = 2 * len(codes) + 2
            wait_until(lambda expected=expected: metric(f"http://{am}", "alertmanager_notifications_total",
                                                        integration="webhook") >= expected,
                       "Alertmanager to repeat its notifications to the service")
            with session_factory(engine)() as session:  # type: ignore[arg-type]
                mails = session.scalars(select(Mail).where(Mail.kind == "alert")).all()
                boxes = {c.id: c for c in session.scalars(select(MunicipalityContact))}
            assert sorted(boxes[m.contact_id].municipality_code for m in mails) == sorted(codes)
            assert all(m.address == boxes[m.contact_id].address and m.language == boxes[m.contact_id].language
                       for m in mails)
            assert all(m.payload and m.payload["status"] == "firing" for m in mails)
