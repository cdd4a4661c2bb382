"""A strict reader of mail as raw bytes, written from the RFCs for the tests only.

It shares no code with Python's `email` package (which unfolds, decodes and forgives) nor
with `monitor/notify/wire.py` (which writes the mails): a second, independent parser.
`read(raw)` raises `GrammarError` naming the rule a message breaks, and otherwise returns
the headers as sent, the decoded subject and display names, and the decoded parts.

Rules checked (RFC 5322 unless said): lines end in CRLF, no bare CR or LF; no line over
998 characters, header lines within 78 except a one-line `List-Unsubscribe`; field names
of printable ASCII without ":"; folding only at whitespace (continuation lines start with
SP or HTAB); header values ASCII unless the message is sent with SMTPUTF8 (RFC 6532, and
then only To may carry UTF-8); RFC 2047 encoded-words only in Subject and display names,
each at most 75 characters, delimited by whitespace, of a known charset and encoding, with
only the characters RFC 2047 5(3) allows in a phrase; Date as `date-time`; Message-ID as
`msg-id`; `List-Unsubscribe` as one `<URL>` on one line (RFC 2369), with
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058); `Auto-Submitted:
auto-generated` (RFC 3834); MIME (RFC 2045/2046): version 1.0, multipart/alternative with
a quoted boundary, each part with its own type, charset and quoted-printable lines within 76.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
ENCODED_WORD = re.compile(r"=\?([A-Za-z0-9_.:-]+)\?([QqBb])\?([^?\s]*)\?=")
Q_PHRASE_CHARS = re.compile(r"[A-Za-z0-9!*+\-/=_]*")
ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
DOT_ATOM = rf"{ATEXT}+(?:\.{ATEXT}+)*"
MSG_ID = re.compile(rf"<{DOT_ATOM}@{DOT_ATOM}>")
DAY, MONTH = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)", r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
DATE_TIME = re.compile(rf"(?:{DAY}, )?\d{{1,2}} {MONTH} \d{{4}} \d\d:\d\d(?::\d\d)? [+-]\d{{4}}")
URL_IN_BRACKETS = re.compile(r"<(https?://[\x21-\x3b\x3d\x3f-\x7e]+)>")
ONCE = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Auto-Submitted")


class GrammarError(AssertionError):
    """The message breaks a rule; the text says which."""


@dataclass
class Part:
    content_type: str
    charset: str
    text: str


@dataclass
class Mail:
    lines: list[str]  # the header lines as sent (without CRLF)
    fields: dict[str, list[str]] = field(default_factory=dict)  # name (lower) -> unfolded raw values
    subject: str = ""
    sender_name: str = ""
    parts: list[Part] = field(default_factory=list)

    def one(self, name: str) -> str:
        values = self.fields.get(name.lower(), [])
        if len(values) != 1:
            raise GrammarError(f"{name}: expected exactly once, found {len(values)} times")
        return values[0]

    def part(self, content_type: str) -> str:
        found = [p.text for p in self.parts if p.content_type == content_type]
        if len(found) != 1:
            raise GrammarError(f"expected one {content_type} part, found {len(found)}")
        return found[0]


def _lines(raw: bytes) -> list[bytes]:
    if not raw.endswith(b"\r\n"):
        raise GrammarError("the message does not end with CRLF")
    lines = raw[:-2].split(b"\r\n")
    for number, line in enumerate(lines, 1):
        if b"\r" in line or b"\n" in line:
            raise GrammarError(f"line {number}: bare CR or LF")
        if len(line) > 998:
            raise GrammarError(f"line {number}: {len(line)} characters, more than 998")
    return lines


def decode_q(text: str, charset: str) -> str:
    """RFC 2047 4.2 "Q" decoding, by hand."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "_":
            out.append(0x20)
        elif c == "=":
            hexpair = text[i + 1:i + 3]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", hexpair):
                raise GrammarError(f"bad =XX escape in encoded-word text {text!r}")
            out.append(int(hexpair, 16))
            i += 2
        elif 0x21 <= ord(c) <= 0x7e and c != "?":
            out.append(ord(c))
        else:
            raise GrammarError(f"character {c!r} not allowed in Q text")
        i += 1
    return out.decode(charset)


def decode_words(value: str, where: str) -> str:
    """Decode a header value of whitespace-separated tokens per RFC 2047 6.2.

    Whitespace between two adjacent encoded-words is dropped; all other whitespace is kept
    (folding whitespace counts as one space once unfolded).
    """
    tokens = re.split(r"([ \t]+)", value.strip())
    out: list[str] = []
    previous_encoded = False
    pending_space = ""
    for token in tokens:
        if not token:
            continue
        if token.isspace():
            pending_space = token
            continue
        match = ENCODED_WORD.fullmatch(token)
        if "=?" in token and match is None:
            raise GrammarError(f"{where}: {token!r} looks like an encoded-word but is not one, or is not "
                               "delimited by whitespace")
        if match:
            if len(token) > 75:
                raise GrammarError(f"{where}: encoded-word of {len(token)} characters, more than 75")
            charset, encoding, text = match.groups()
            if charset.lower() not in ("utf-8", "us-ascii", "iso-8859-1"):
                raise GrammarError(f"{where}: unexpected charset {charset!r}")
            if encoding in "Qq":
                if not Q_PHRASE_CHARS.fullmatch(text):
                    raise GrammarError(f"{where}: Q text {text!r} has characters a phrase may not carry")
                decoded = decode_q(text, charset)
            else:
                decoded = base64.b64decode(text, validate=True).decode(charset)
            if out and not previous_encoded:
                out.append(pending_space)
            out.append(decoded)
            previous_encoded = True
        else:
            if out:
                out.append(pending_space)
            out.append(token)
            previous_encoded = False
        pending_space = ""
    return "".join(out)


def decode_qp(body: str) -> str:
    """RFC 2045 6.7 quoted-printable, by hand; every encoded line within 76 characters."""
    out = bytearray()
    lines = body.split("\r\n")
    for number, line in enumerate(lines, 1):
        if len(line) > 76:
            raise GrammarError(f"quoted-printable line {number} has {len(line)} characters")
        if not line.isascii():
            raise GrammarError(f"quoted-printable line {number} is not ASCII")
        soft = line.endswith("=")
        if soft:
            line = line[:-1]  # whitespace may come before a soft line break, never at a hard one
        elif line != line.rstrip(" \t"):
            raise GrammarError(f"quoted-printable line {number} ends in whitespace")
        i = 0
        while i < len(line):
            if line[i] == "=":
                pair = line[i + 1:i + 3]
                if not re.fullmatch(r"[0-9A-F]{2}", pair):
                    raise GrammarError(f"quoted-printable line {number}: bad escape {line[i:i + 3]!r}")
                out.append(int(pair, 16))
                i += 3
            else:
                out.append(ord(line[i]))
                i += 1
        if not soft and number < len(lines):
            out += b"\r\n"
    return out.decode("utf-8")


def _params(value: str) -> tuple[str, dict[str, str]]:
    head, *rest = [p.strip() for p in re.split(r";(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", value)]
    params = {}
    for item in rest:
        key, eq, val = item.partition("=")
        if not eq:
            raise GrammarError(f"bad parameter {item!r}")
        params[key.strip().lower()] = val.strip().strip('"')
    return head.lower(), params


def _header_block(lines: list[bytes], smtputf8: bool, top: bool) -> tuple[list[str], dict[str, list[str]], int]:
    texts: list[str] = []
    fields: dict[str, list[str]] = {}
    current: tuple[str, str] | None = None
    end = None
    for index, raw in enumerate(lines):
        if raw == b"":
            end = index
            break
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            if not smtputf8:
                raise GrammarError(f"header line {raw!r} is not ASCII and was not sent with SMTPUTF8") from None
            line = raw.decode("utf-8")
        texts.append(line)
        if line[:1] in (" ", "\t"):
            if current is None:
                raise GrammarError("a continuation line before any field")
            if not line.strip():
                raise GrammarError("a folded line of only whitespace")
            current = (current[0], current[1] + line)
        else:
            name, colon, value = raw.partition(b":")
            if not colon or not FIELD_NAME.fullmatch(name):
                raise GrammarError(f"not a header field: {raw!r}")
            if current is not None:
                fields.setdefault(current[0].lower(), []).append(current[1])
            current = (name.decode("ascii"), line[len(name) + 1:])
        if top and len(raw) > 78 and not raw.lower().startswith(b"list-unsubscribe:"):
            raise GrammarError(f"header line of {len(raw)} characters, more than 78: {raw[:60]!r}…")
    if current is not None:
        fields.setdefault(current[0].lower(), []).append(current[1])
    if end is None:
        raise GrammarError("no empty line between the header and the body")
    for name, values in fields.items():
        for value in values:
            if not value.isascii() and not (smtputf8 and name == "to"):
                raise GrammarError(f"{name}: non-ASCII value {value!r}")
    return texts, fields, end


def read(raw: bytes, smtputf8: bool = False) -> Mail:
    """Parse and check a message as sent; raise `GrammarError` on the first broken rule."""
    lines = _lines(raw)
    texts, fields, end = _header_block(lines, smtputf8, top=True)
    mail = Mail(texts, fields)
    for name in ONCE:
        mail.one(name)
    if not DATE_TIME.fullmatch(mail.one("Date").strip()):
        raise GrammarError(f"Date: not an RFC 5322 date-time: {mail.one('Date')!r}")
    if not MSG_ID.fullmatch(mail.one("Message-ID").strip()):
        raise GrammarError(f"Message-ID: not a msg-id: {mail.one('Message-ID')!r}")
    if mail.one("Auto-Submitted").strip() != "auto-generated":
        raise GrammarError("Auto-Submitted: expected auto-generated")
    if mail.one("MIME-Version").strip() != "1.0":
        raise GrammarError("MIME-Version: expected 1.0")
    if "list-unsubscribe" in fields:
        value = mail.one("List-Unsubscribe")
        if not value.startswith(" ") or not URL_IN_BRACKETS.fullmatch(value[1:]):
            raise GrammarError(f"List-Unsubscribe: not one plain <URL> on one line: {value!r}")
        if mail.one("List-Unsubscribe-Post") != " List-Unsubscribe=One-Click":
            raise GrammarError("List-Unsubscribe-Post: expected List-Unsubscribe=One-Click")
    for name, values in fields.items():
        if name not in ("subject", "from", "to") and any("=?" in v for v in values):
            raise GrammarError(f"{name}: an encoded-word where RFC 2047 does not allow one")
    mail.subject = decode_words(mail.one("Subject"), "Subject")
    sender = mail.one("From").strip()
    found = re.fullmatch(r"(.*?)\s*<([^<>\s]+@[^<>\s]+)>", sender)
    if found:
        phrase = found.group(1)
        mail.sender_name = (phrase[1:-1] if phrase.startswith('"') else decode_words(phrase, "From"))
    elif not re.fullmatch(r"[^<>\s]+@[^<>\s]+", sender):
        raise GrammarError(f"From: not a mailbox: {sender!r}")
    to = mail.one("To").strip()
    if "=?" in to or not re.fullmatch(r"<?[^<>\s@]+@[A-Za-z0-9.-]+>?", to):
        raise GrammarError(f"To: not a plain address with an ASCII (IDNA) domain: {to!r}")
    kind, params = _params(mail.one("Content-Type"))
    if kind != "multipart/alternative" or "boundary" not in params:
        raise GrammarError(f"Content-Type: expected multipart/alternative with a boundary, got {kind!r}")
    body = [b.decode("ascii") for b in lines[end + 1:]]
    mail.parts = _parts(body, params["boundary"], smtputf8)
    return mail


def _parts(body: list[str], boundary: str, smtputf8: bool) -> list[Part]:
    delimiter, close = f"--{boundary}", f"--{boundary}--"
    if close not in body:
        raise GrammarError("no closing boundary")
    chunks: list[list[str]] = []
    for line in body[:body.index(close)]:
        if line == delimiter:
            chunks.append([])
        elif chunks:
            chunks[-1].append(line)
        elif line.strip():
            raise GrammarError("text before the first boundary")
    parts = []
    for chunk in chunks:
        raw_lines = [line.encode("ascii") for line in chunk]
        _texts, fields, end = _header_block(raw_lines, smtputf8, top=False)
        ctype = fields.get("content-type", [""])[0]
        kind, params = _params(ctype)
        if fields.get("content-transfer-encoding", [""])[0].strip().lower() != "quoted-printable":
            raise GrammarError(f"{kind}: expected quoted-printable")
        if params.get("charset", "").lower() != "utf-8":
            raise GrammarError(f"{kind}: expected charset utf-8")
        text = decode_qp("\r\n".join(chunk[end + 1:]))
        parts.append(Part(kind, "utf-8", text))
    return parts
