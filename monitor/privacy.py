"""Personal data and server detail kept out of what people see.

`mask_address` turns ``reject-1@example.dk`` into ``r…1@example.dk``: enough for an operator
to recognise a case, not enough to harvest. `summarise_error` makes a raw error fit for the
operator's page: first line only, addresses masked, file paths reduced to their file name,
bounded length. Only the subscriber look-up on /drift shows an address in full.
"""

from __future__ import annotations

import re

# In running text an address is taken to be the usual characters around an @ (quotes and
# braces around it, as in a Python repr of a mail server's answer, are not part of it).
# An address already masked (``r…1@example.dk``) is left as it is.
ADDRESS = re.compile(r"(?<![\w.%+\-!#$&*/=?^~…])[\w.%+\-!#$&*/=?^~]+@\w(?:[\w.\-]*\w)?")
# An absolute POSIX or Windows path, or a file: URL; the last component is kept.
PATH = re.compile(r"(?:file://)?(?:[A-Za-z]:\\|/)(?:[^\s'\"<>:,;()\[\]{}]+[/\\])+([^\s'\"<>:,;()\[\]{}/\\]*)")
ERROR_LIMIT = 300


def mask_address(address: str) -> str:
    """``r…1@example.dk``: the first and last character of the local part, then the domain."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "…"
    if len(local) <= 2:
        return f"{local[:1]}…@{domain}"
    return f"{local[0]}…{local[-1]}@{domain}"


def mask_addresses(text: str) -> str:
    """`text` with every email address in it masked."""
    return ADDRESS.sub(lambda m: mask_address(m.group(0)), text)


def strip_paths(text: str) -> str:
    """`text` with every absolute file path (or file: URL) shortened to ``…/name``."""
    return PATH.sub(lambda m: "…/" + m.group(1), text)


def summarise_error(text: str | None, limit: int = ERROR_LIMIT) -> str:
    """A raw error as an operator page shows it: one line, no address, no path, bounded."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    # A traceback's last line says what went wrong; anything else starts with its point.
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    line = strip_paths(mask_addresses(line))
    return line if len(line) <= limit else line[:limit - 1] + "…"
