"""Rate limits hold across processes: gunicorn with 4 workers counting in Redis."""

from __future__ import annotations

import http.cookiejar
import os
import random
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import need
from tests.test_gunicorn import ROOT, free_port
from tests.waiting import wait_until

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
CLIENT_LIMIT = 10
POSTS = 50


def redis_db() -> int:
    """A Redis database of its own for this run, emptied of limiter keys (skips without Redis)."""
    try:
        import redis
    except ImportError:  # pragma: no cover - a dependency of the project
        need("the redis client is not installed")
    db = random.randint(8, 15)
    try:
        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db, socket_connect_timeout=3)
        keys = list(client.scan_iter("*LIMITER*"))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.exceptions.ConnectionError as exc:
        need(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    return db


def answer(opener: urllib.request.OpenerDirector, url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_fifty_subscribe_posts_from_one_client_to_four_workers_get_exactly_the_limit(tmp_path: Path,
                                                                                     sqlite_url: str) -> None:
    db = redis_db()
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{sqlite_url}"\n[demo]\nenabled = false\n'
                   f'[mail]\nbackend = "file"\noutbox_dir = "{tmp_path / "outbox"}"\n'
                   f'[web]\nrate_limit = "{CLIENT_LIMIT} per hour"\n')
    env = dict(os.environ, MONITOR_CONFIG=str(cfg), MONITOR_SECRET_KEY="test-secret", MONITOR_WORKERS="4",
               MONITOR_THREADS="2", MONITOR_BIND=f"127.0.0.1:{port}",
               MONITOR_RATELIMIT_STORAGE=f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    env.pop("MONITOR_DATABASE_URL", None)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with (tmp_path / "gunicorn.log").open("wb") as log:
        master = subprocess.Popen([str(gunicorn), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                                   "monitor:create_app()"], env=env, cwd=tmp_path, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        wait_until(lambda: answer(opener, base + "/readyz")[0] == 200,
                   f"gunicorn to be ready (log: {tmp_path / 'gunicorn.log'})", tolerate=(OSError,))
        workers = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 4

        status, page = answer(opener, base + "/subscribe")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert status == 200 and token
        statuses = [answer(opener, base + "/subscribe", {"email": f"person{i}@example.dk", "language": "da",
                                                         "csrf_token": token.group(1)})[0]
                    for i in range(POSTS)]
        assert statuses.count(200) == CLIENT_LIMIT, statuses
        assert statuses.count(429) == POSTS - CLIENT_LIMIT, statuses
        assert statuses[:CLIENT_LIMIT] == [200] * CLIENT_LIMIT
    finally:
        master.send_signal(signal.SIGTERM)
        master.wait(60)
        import redis

        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db)
        keys = list(client.scan_iter("*LIMITER*"))
        if keys:
            client.delete(*keys)
        client.close()
