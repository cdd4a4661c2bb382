"""The production web server: gunicorn with deploy/gunicorn.conf.py and several workers."""

from __future__ import annotations

import os
import signal

from tests.serving import get, gunicorn
from tests.waiting import wait_until


def test_a_worker_killed_mid_run_is_replaced_and_the_others_keep_serving(tmp_path, sqlite_url):
    with gunicorn(tmp_path, f'[database]\nurl = "{sqlite_url}"\n[demo]\nenabled = false\n', workers=2) as server:
        before = server.workers()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        statuses = [get(server.base + "/api/v1/components") for _ in range(30)]
        assert statuses == [200] * 30
        wait_until(lambda: len(server.workers()) == 2 and before[0] not in server.workers(), "a replacement worker")
        # The multiprocess folder was made by the config at start and holds the workers' files.
        assert (tmp_path / "prometheus").is_dir()
        assert get(server.base + "/metrics") == 200
