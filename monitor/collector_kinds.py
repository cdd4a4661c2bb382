"""The kinds of collector input by name: the one line a new kind adds.

A kind of import file or of notice source is one module with a `KIND` (its `name`, its
`label` for /drift marked for the catalogue with `vocabulary.N_`, and what the kind does:
`collectors/calls/kinds/base.py`, `collectors/notices/kinds/base.py`) and one line below
naming that module. This module imports nothing: the settings check `[[notices.sources]]
kind` against these names and the command line offers them without loading any kind; the
collectors load a kind's module when they first use it (`collectors/registry.py`), and
`tests/test_collector_kinds.py` resolves every line.
"""

from __future__ import annotations

# `monitor import NAME`, the ledger's kind and the `kind` label of the import counters.
FILE_KINDS: dict[str, str] = {
    "municipalities": "monitor.collectors.calls.kinds.municipalities",
    "agreements": "monitor.collectors.calls.kinds.agreements",
    "calls": "monitor.collectors.calls.kinds.calls",
    "tasks": "monitor.collectors.calls.kinds.tasks",
}

# The `kind` of `[[notices.sources]]` and of `monitor collect notices --kind`; in this order
# the collector tries them when it guesses a source's kind.
SOURCE_KINDS: dict[str, str] = {
    "feed": "monitor.collectors.notices.kinds.feed",
    "statuspage": "monitor.collectors.notices.kinds.statuspage",
}
