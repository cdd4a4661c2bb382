"""What a collector or job run did, in the reader's language, for the service-health page.

Runs are recorded with an English `message` (for logs and the command line) and `details`:
the same as codes and counts (`runs.recorded_run`). The page words the details through the
catalogue, with Babel's plural forms; a run recorded before details existed, or one that
ended in an exception, shows its message as it was written, marked as technical text.
"""

from __future__ import annotations

from typing import Any, cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ...collectors.calls.kinds import KINDS as FILE_KINDS
from ...collectors.notices.kinds import KINDS as SOURCE_KINDS
from ...runs import (
    FilesDetails,
    NoticesDetails,
    NotifyDetails,
    PartitionsDetails,
    RatingDetails,
    RunDetails,
    SourceDetails,
)
from .format import day

JOB_NAMES = {"notices": _l("Driftsmeddelelser hentes"), "calls": _l("Kaldstal fra indbakken"),
             "import": _l("Import fra kommandolinjen"), "notify": _l("Udsendelse af meddelelser"),
             "rating": _l("Daglig beregning af scorer"),
             "partitions": _l("Månedspartitioner for timekaldstal")}


# Codes the page shows in a column of their own: delivery channels and mail kinds here; the
# kinds of source and of file carry their own label (collectors/*/kinds/, `code_word`).
CODE_WORDS = {"email": _l("mail"), "webhook": _l("webhook"),
              # the outbox's kinds (notify/queue.py), for the queue depth per kind
              "notice": _l("driftsmeddelelser pr. mail"), "confirm": _l("bekræftelser af tilmelding"),
              "manage": _l("links til at ændre tilmelding"), "invitation": _l("invitationer"),
              "login": _l("links til at logge ind"), "reminder": _l("påmindelser om vedligeholdelse"),
              "digest": _l("ugentlige overblik"), "cutover_report": _l("rapporter om skiftet"),
              "alert": _l("alarmer til kommuner"), "method_input": _l("bekræftelser af input til metoden"),
              "method_answer": _l("svar på input til metoden")}


def code_word(code: str | None) -> str:
    """A code in words (a registered kind by its own label); an unknown code as it is."""
    if not code:
        return "–"
    if code in CODE_WORDS:
        return str(CODE_WORDS[code])
    for registry in (SOURCE_KINDS, FILE_KINDS):
        if code in registry:
            return _(registry[code].label)
    return code


def job_name(code: str) -> str:
    """The job's name in words; an unknown job keeps its code."""
    return str(JOB_NAMES.get(code, code))


def _files(details: FilesDetails) -> list[str]:
    files = details.get("files") or {}
    if not any(files.values()):
        return [_("ingen filer")]
    words = {"imported": lambda n: ngettext("%(num)d fil importeret", "%(num)d filer importeret", n),
             "unchanged": lambda n: ngettext("%(num)d fil allerede importeret", "%(num)d filer allerede importeret", n),
             "rejected": lambda n: ngettext("%(num)d fil afvist", "%(num)d filer afvist", n),
             "failed": lambda n: ngettext("%(num)d fil kunne ikke læses", "%(num)d filer kunne ikke læses", n)}
    out = [words[k](n) if k in words else f"{n} {k}" for k, n in sorted(files.items()) if n]
    if details.get("not_imported"):
        out.append(_("ikke importeret: %(names)s", names=", ".join(details["not_imported"])))
    if details.get("errors"):
        out.append(ngettext("%(num)d fejl i indbakken", "%(num)d fejl i indbakken", details["errors"]))
    return out


def _source(src: SourceDetails) -> str:
    name = str(src.get("name", ""))
    state = src.get("state")
    if state == "not_modified":
        return _("%(name)s: uændret siden sidst", name=name)
    if state == "failed":
        return _("%(name)s: kunne ikke hentes", name=name)
    parts = [ngettext("%(num)d ny meddelelse", "%(num)d nye meddelelser", src.get("new_notices", 0)),
             ngettext("%(num)d ny opdatering", "%(num)d nye opdateringer", src.get("new_updates", 0)),
             ngettext("%(num)d rettet", "%(num)d rettede", src.get("edited", 0)),
             ngettext("%(num)d udsendelse sat i kø", "%(num)d udsendelser sat i kø", src.get("queued", 0))]
    text = _("%(name)s: %(what)s", name=name, what=", ".join(parts))
    if src.get("backfill"):
        text += " " + _("(første hentning: ingen fik besked)")
    if state == "partly":
        text += " " + ngettext("– delvist læst, %(num)d problem", "– delvist læst, %(num)d problemer",
                               src.get("problems", 0))
    return text


def _notify(details: NotifyDetails) -> list[str]:
    out = [ngettext("%(num)d sendt", "%(num)d sendt", details.get("sent", 0)),
           ngettext("%(num)d prøves igen", "%(num)d prøves igen", details.get("retry", 0)),
           ngettext("%(num)d opgivet", "%(num)d opgivet", details.get("failed", 0))]
    if details.get("cancelled"):
        out.append(ngettext("%(num)d annulleret", "%(num)d annulleret", details["cancelled"]))
    if details.get("error"):
        out.append(_("kørslen stoppede med en fejl"))
    return out


def run_summary(collector: str, details: RunDetails | None) -> str | None:
    """The run's details in words, or None when the run has none to word (show its message).

    Which shape the details have is told by the job that recorded them (`runs.RunDetails`);
    a run recorded by an older version may lack a key, so each is read with its default.
    """
    if not isinstance(details, dict):
        return None
    if collector in ("calls", "import") and "files" in details:
        return "; ".join(_files(cast(FilesDetails, details)))
    if collector == "notices" and "sources" in details:
        sources = cast(NoticesDetails, details)["sources"]
        return "; ".join(_source(s) for s in sources) or _("ingen kilder er sat op")
    if collector == "notify" and "sent" in details:
        return ", ".join(_notify(cast(NotifyDetails, details)))
    if collector == "rating" and "revision" in details:
        rated = cast(RatingDetails, details)
        if rated.get("unchanged"):
            return _("beregnet for %(day)s: uændret, version %(revision)s gælder fortsat", day=day(rated.get("as_of")),
                     revision=rated["revision"])
        return _("beregnet for %(day)s, version %(revision)s", day=day(rated.get("as_of")),
                 revision=rated["revision"])
    if collector == "partitions" and "months" in details:
        return _partitions(cast(PartitionsDetails, details))
    return None


def _partitions(details: PartitionsDetails) -> str:
    made = details.get("made") or []
    months = details.get("months") or []
    done = (ngettext("%(num)d måned oprettet: %(months)s", "%(num)d måneder oprettet: %(months)s", len(made),
                     months=", ".join(made)) if made else _("ingen nye måneder"))
    return _("%(done)s; partitioner findes for %(months)s", done=done, months=", ".join(months) or "–")


def register(bp: Any) -> None:
    """Make `code_word`, `job_name` and `run_summary` available in the templates."""
    bp.add_app_template_global(job_name, "job_name")
    bp.add_app_template_global(code_word, "code_word")
    bp.add_app_template_global(run_summary, "run_summary")


__all__ = ["code_word", "job_name", "register", "run_summary"]
