"""Rate limits hold across processes: gunicorn with 4 workers counting in Redis."""

from __future__ import annotations

import http.cookiejar
import random
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import need
from tests.serving import gunicorn

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
    config = (f'[database]\nurl = "{sqlite_url}"\n[demo]\nenabled = false\n'
              f'[mail]\nbackend = "file"\noutbox_dir = "{tmp_path / "outbox"}"\n'
              f'[web]\nrate_limit = "{CLIENT_LIMIT} per hour"\n')
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        with gunicorn(tmp_path, config, workers=4,
                      MONITOR_RATELIMIT_STORAGE=f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}") as server:
            assert len(server.workers()) == 4
            base = server.base
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
        import redis

        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db)
        keys = list(client.scan_iter("*LIMITER*"))
        if keys:
            client.delete(*keys)
        client.close()
