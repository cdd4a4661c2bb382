"""Every request body is bounded: [web] max_body_bytes, answered 413 before the body is read."""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.settings import ConfigError, from_mapping
from monitor.web.guard import body_limit
from tests.serving import free_port, get, gunicorn
from tests.test_memory import wait_until_serving

KB, MB = 1024, 1024 * 1024
FORM = "application/x-www-form-urlencoded"


def form_of(size: int) -> bytes:
    return b"email=a%40example.dk&filler=" + b"x" * (size - 28)


def test_a_form_over_max_body_bytes_gets_413(client) -> None:
    response = client.post("/subscribe", data=form_of(65 * KB), content_type=FORM)
    assert response.status_code == 413
    assert "65,536 bytes" in response.get_data(as_text=True)
    assert response.headers["Connection"] == "close"
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # an answer like any other


def test_a_refused_body_is_counted_in_the_request_metrics(client) -> None:
    from tests.test_metrics import samples

    key = (("endpoint", "/subscribe"), ("method", "POST"), ("status", "413"))

    def counted() -> float:
        return samples(client.get("/metrics").get_data(as_text=True)).get("fki_http_requests_total", {}).get(key, 0)

    before = counted()
    client.post("/subscribe", data=form_of(65 * KB), content_type=FORM)
    assert counted() == before + 1


def test_a_form_within_max_body_bytes_reaches_the_view(client) -> None:
    response = client.post("/subscribe", data=form_of(60 * KB), content_type=FORM)
    assert response.status_code == 400  # the view's answer: no CSRF token, not the size


def test_a_declared_length_over_the_bound_is_refused_without_reading_the_body(client) -> None:
    class Unreadable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            raise AssertionError("the body was read")

    response = client.post("/subscribe", content_type=FORM, environ_overrides={
        "wsgi.input": Unreadable(), "CONTENT_LENGTH": str(200 * MB)})
    assert response.status_code == 413


def test_a_chunked_body_is_cut_off_at_the_bound(client) -> None:
    read = 0

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            nonlocal read
            buffer[:] = b"x" * len(buffer)
            read += len(buffer)
            return len(buffer)

    response = client.post("/subscribe", content_type=FORM, headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input": Endless(), "wsgi.input_terminated": True})
    assert response.status_code == 413
    assert read <= 65_536 + 64 * KB  # at most one buffer past the bound


def test_a_chunked_body_within_the_bound_reaches_the_view_whole(client) -> None:
    response = client.post("/subscribe", content_type=FORM, headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input": io.BytesIO(form_of(60 * KB)), "wsgi.input_terminated": True})
    assert response.status_code == 400  # the view's answer: no CSRF token


def test_a_route_may_have_a_larger_bound_of_its_own(app) -> None:
    @body_limit(1 * MB)
    def upload():  # type: ignore[no-untyped-def]
        from flask import request

        return {"bytes": len(request.get_data())}

    from monitor.web.state import csrf

    app.add_url_rule("/test-upload", "test_upload", csrf.exempt(upload), methods=["POST"])
    client = app.test_client()
    assert client.post("/test-upload", data=b"x" * (512 * KB)).get_json() == {"bytes": 512 * KB}
    assert client.post("/test-upload", data=b"x" * (2 * MB)).status_code == 413
    assert client.post("/subscribe", data=form_of(512 * KB), content_type=FORM).status_code == 413


def test_max_body_bytes_is_validated() -> None:
    with pytest.raises(ConfigError, match="web.max_body_bytes"):
        from_mapping({"web": {"max_body_bytes": 10}}, environ={})
    assert from_mapping({"web": {"max_body_bytes": 2048}}, environ={}).web.max_body_bytes == 2048


# Real servers: a 200 MB body streamed at them, their memory read from /proc.

def peak_rss(pid: int) -> int:
    """The peak resident set size (VmHWM) of process `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def post_huge(port: int, total: int = 200 * MB, chunked: bool = False) -> tuple[int, int]:
    """POST a body of `total` bytes to /subscribe, streamed 64 KB at a time until the server answers.

    Returns the status code and how many body bytes were sent before the answer came. Nothing
    near `total` is ever held in memory here.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {FORM}\r\n"
                 f"{framing}\r\n\r\n".encode())
    block = b"x" * (64 * KB)
    if chunked:
        block = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent = 0
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0 if sent else 2)
            if readable:
                break
            sock.sendall(block)
            sent += 64 * KB
    except OSError:  # the server closed the connection: its answer is what is left to read
        pass
    head = b""
    try:
        while b"\r\n" not in head:
            got = sock.recv(4096)
            if not got:
                break
            head += got
    except OSError:
        pass
    finally:
        sock.close()
    assert head.startswith(b"HTTP/1."), (head, sent)
    return int(head.split()[1]), sent


@contextmanager
def waitress_server(tmp_path: Path) -> Iterator[tuple[int, list[int]]]:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "monitor.db"}"\n[demo]\nenabled = false\n'
                      f'[collectors.calls]\ninbox = "{tmp_path / "inbox"}"\n', encoding="utf-8")
    port = free_port()
    env = {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_SECRET_KEY": "body-test"}
    env.pop("MONITOR_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--port", str(port), "--no-scheduler",
                                 "--threads", "4"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", proc, log)
        yield port, [proc.pid]
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def gunicorn_server(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[int, list[int]]]:
    with gunicorn(tmp_path, f'[database]\nurl = "{sqlite_url}"\n[demo]\nenabled = false\n', workers=2) as server:
        yield server.port, [server.master.pid, *server.workers()]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read a process's memory")
@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_a_200_mb_body_gets_413_and_the_server_stays_within_50_mb_of_idle(tmp_path, sqlite_url, server) -> None:
    started = waitress_server(tmp_path) if server == "waitress" else gunicorn_server(tmp_path, sqlite_url)
    with started as (port, pids):
        for _ in range(3):  # warm: every worker has served a form
            assert get(f"http://127.0.0.1:{port}/subscribe") == 200
        idle = {pid: peak_rss(pid) for pid in pids}
        answers = [post_huge(port), post_huge(port, chunked=True), post_huge(port), post_huge(port, chunked=True)]
        grown = {pid: peak_rss(pid) - idle[pid] for pid in pids}
        assert get(f"http://127.0.0.1:{port}/subscribe") == 200  # still serving
    assert [status for status, _ in answers] == [413] * 4
    assert all(sent < 200 * MB for _, sent in answers)  # answered long before the body ended
    assert max(grown.values()) < 50 * MB, {pid: f"{g / MB:.1f} MB" for pid, g in grown.items()}
