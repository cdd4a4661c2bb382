"""Logs: one JSON object per line on request, a request id everywhere, no email addresses."""

from __future__ import annotations

import json
import logging

from monitor import logs
from monitor.settings import LoggingSettings


def test_email_addresses_are_masked_in_messages_and_arguments(capsys):
    logs.configure(LoggingSettings(json=True))
    logging.getLogger("x").warning("confirmation sent to %s", "Jens.Hansen@aarhus.dk")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    doc = json.loads(line)
    assert doc["message"] == "confirmation sent to J***@aarhus.dk"
    assert doc["level"] == "WARNING" and doc["logger"] == "x" and doc["request_id"] == "-"
    assert "Hansen" not in line


def test_plain_text_logs_carry_the_request_id(capsys):
    logs.configure(LoggingSettings(json=False))
    token = logs.request_id.set("abc123")
    try:
        logging.getLogger("y").info("hello")
    finally:
        logs.request_id.reset(token)
    assert "[abc123]: hello" in capsys.readouterr().err


def test_every_response_carries_a_request_id_and_a_sane_one_is_kept(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 16
    assert client.get("/healthz", headers={"X-Request-ID": "lb-42"}).headers["X-Request-ID"] == "lb-42"
    evil = "<script>" + "x" * 100
    assert client.get("/healthz", headers={"X-Request-ID": evil}).headers["X-Request-ID"] != evil
