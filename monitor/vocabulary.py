"""The one vocabulary: the Danish word for each status and kind a notice or component can have.

Pages, mails and the Atom feed all take their words from here (the words are the catalogue's
msgids; English comes from monitor/translations), so one notice reads the same everywhere and
as the operators' own status page words it. docs/glossary.md lists every word in both
languages; tests/test_glossary.py holds the pages, mails and feed to it.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for translation, translate later")
    """Mark `message` for the catalogue; it is translated where the language is known."""
    return message


# As the Danish status page says them (Statuspage's Danish words), so the source and we agree.
NOTICE_STATUS = {
    "investigating": N_("Undersøger"), "identified": N_("Identificeret"), "monitoring": N_("Overvåger"),
    "resolved": N_("Løst"), "postmortem": N_("Efterfølgende analyse"),
    "scheduled": N_("Planlagt"), "in_progress": N_("I gang"), "verifying": N_("Verificerer"),
    "completed": N_("Afsluttet"),
}
NOTICE_KIND = {"incident": N_("Driftsforstyrrelse"), "maintenance": N_("Vedligeholdelse")}
COMPONENT_STATUS = {
    "operational": N_("Kører normalt"), "degraded_performance": N_("Nedsat ydelse"),
    "partial_outage": N_("Delvist nede"), "major_outage": N_("Nede"),
    "under_maintenance": N_("Under vedligeholdelse"),
}
