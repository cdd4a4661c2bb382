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
# A municipality's cut-over status: the light and, after the colon, what it means. Mails, which
# have the meaning beside it, use the part before the colon in lower case (CUTOVER_STATUS_SHORT).
CUTOVER_STATUS = {
    "red": N_("Rød: kald mangler"), "yellow": N_("Gul: delvist tilbage"), "green": N_("Grøn: tilbage som før"),
    "pending": N_("Afventer data"), "in_window": N_("Skiftet er i gang"),
    "unknown": N_("Ukendt: ingen sammenligning"), "not_judged": N_("Ikke bedømt: for lidt trafik"),
}
CUTOVER_STATUS_SHORT = {
    "red": N_("rød"), "yellow": N_("gul"), "green": N_("grøn"), "pending": N_("afventer data"),
    "in_window": N_("skiftet er i gang"), "unknown": N_("ukendt"), "not_judged": N_("ikke bedømt"),
}
