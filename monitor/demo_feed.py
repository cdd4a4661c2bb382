"""The demo's status feed: a Danish driftstatus in Atlassian Statuspage's RSS shape.

The feed is a pure function of the demo's cut-over window, the time the demo was loaded and
the current time: the history around the cut-over and the three months before it (so the
availability bars have something to show), then a scripted stream of small
incidents, one update every `feed_update_minutes` after loading. Re-rendering it later adds
the updates whose time has come; the real notice collector picks them up like any feed.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from dataclasses import dataclass
from email.utils import format_datetime

from .localtime import CPH
from .settings import Settings

BASE = "https://driftstatus.demo.infrastrukturmonitor.invalid"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_ITEMS = 25


@dataclass(frozen=True)
class Update:
    at: dt.datetime
    status: str
    text: str


@dataclass(frozen=True)
class Item:
    slug: str
    title: str
    kind: str  # incident | maintenance
    components: tuple[str, ...]
    updates: tuple[Update, ...]  # oldest first
    scheduled: tuple[dt.datetime, dt.datetime] | None = None  # a maintenance's planned start and end


def history(start: dt.datetime, end: dt.datetime) -> list[Item]:
    """The notices around the cut-over window that ended at `end`."""
    h = dt.timedelta(hours=1)
    d = dt.timedelta(days=1)
    return [
        Item("flytning-af-serviceplatformen", "Flytning af Serviceplatformen til nyt driftscenter", "maintenance",
             ("Serviceplatformen", "Beskedfordeler", "Fælleskommunal Adgangsstyring for systemer"), (
                 Update(start - 14 * d, "Planlagt", "Serviceplatformen flytter fra Systematic til IBM. Platformen er "
                        "lukket i hele skiftevinduet. Se listen over opgaver ved skift af driftscenter."),
                 Update(start, "I gang", "Skiftet er begyndt. Serviceplatformen tager ikke imod kald."),
                 Update(end - 2 * h, "Verificerer", "Platformen kører i det nye driftscenter. Vi verificerer "
                        "kald fra udvalgte kommuner."),
                 Update(end, "Afsluttet", "Skiftet er gennemført. Kontakt servicedesk, hvis jeres integrationer "
                        "ikke kalder igen."),
             ), scheduled=(start, end)),
        Item("forhoejet-svartid-sf1520", "Forhøjet svartid på CPR-opslag (SF1520)", "incident",
             ("Serviceplatformen",), (
                 Update(end + 1 * h, "Undersøger", "Vi ser forhøjede svartider på SF1520 efter skiftet."),
                 Update(end + 2 * h, "Identificeret", "Årsagen er en forkert konfigureret forbindelse til "
                        "CPR-replikaen. Der arbejdes på en rettelse."),
             )),
        Item("beskedfordeler-forsinkelse", "Forsinket levering af beskeder", "incident", ("Beskedfordeler",), (
            Update(start - 5 * d, "Undersøger", "Beskeder leveres med op til 30 minutters forsinkelse."),
            Update(start - 5 * d + 2 * h, "Overvåger", "En kø er tømt. Vi overvåger leveringen."),
            Update(start - 5 * d + 5 * h, "Løst", "Beskeder leveres igen til tiden."),
        )),
        Item("context-handler-login", "Fejl ved login gennem Context Handler", "incident",
             ("Fælleskommunal Adgangsstyring for brugere",), (
                 Update(start - 9 * d, "Undersøger", "Nogle brugere kan ikke logge ind i fagsystemer."),
                 Update(start - 9 * d + 1 * h, "Løst", "Et udløbet certifikat er fornyet."),
             )),
        Item("klassifikation-vedligehold", "Planlagt vedligeholdelse af Klassifikation", "maintenance",
             ("Klassifikation",), (
                 Update(end + 3 * h, "Planlagt", "Klassifikation opdateres næste tirsdag kl. 17–19. "
                        "Opslag kan svare langsomt i perioden."),
             ), scheduled=next_tuesday(end + 3 * h)),
        *earlier(start),
    ]


def earlier(start: dt.datetime) -> list[Item]:
    """Three months before the cut-over: a few incidents and a planned maintenance, for the availability bars."""
    def at(days_before: int, hour: int, minute: int = 0) -> dt.datetime:
        day = start.astimezone(CPH).date() - dt.timedelta(days=days_before)
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CPH)

    return [
        Item("organisation-ustabil", "Ustabile svar fra Organisation", "incident", ("Organisation",), (
            Update(at(82, 9, 40), "Undersøger", "Opslag i Organisation fejler en gang imellem."),
            Update(at(82, 10, 25), "Identificeret", "En af to databaseservere svarer ikke. Trafikken er flyttet."),
            Update(at(82, 12, 10), "Løst", "Begge servere kører igen."),
        )),
        Item("sagsindeks-natkoersel", "Forsinket indeksering i Sags- og Dokumentindeks", "incident",
             ("Sags- og Dokumentindeks",), (
                 Update(at(64, 22, 30), "Undersøger", "Nattens indeksering af sager er gået i stå."),
                 Update(at(63, 1, 15), "Overvåger", "Indekseringen er genstartet og indhenter det forsømte."),
                 Update(at(63, 3, 40), "Løst", "Indekset er ajour."),
             )),
        Item("beskedfordeler-opdatering", "Planlagt opdatering af Beskedfordeler", "maintenance", ("Beskedfordeler",), (
            Update(at(54, 10), "Planlagt", "Beskedfordeleren opdateres. Beskeder leveres først, når opdateringen "
                   "er færdig."),
            Update(at(47, 20), "I gang", "Opdateringen er begyndt."),
            Update(at(47, 23, 10), "Afsluttet", "Opdateringen er færdig, og de ventende beskeder er leveret."),
        ), scheduled=(at(47, 20), at(47, 23, 30))),
        Item("ydelsesindeks-afvisninger", "Ydelsesindeks afviser indberetninger", "incident", ("Ydelsesindeks",), (
            Update(at(33, 13, 5), "Undersøger", "Indberetninger fra flere kommuner afvises."),
            Update(at(33, 15, 20), "Løst", "En fejlbehæftet regelopdatering er rullet tilbage."),
        )),
        Item("sf1520-timeouts", "Timeouts på CPR-opslag (SF1520)", "incident", ("Serviceplatformen",), (
            Update(at(19, 7, 50), "Undersøger", "Mange opslag i SF1520 giver timeout."),
            Update(at(19, 8, 30), "Identificeret", "En netværksforbindelse til CPR er overbelastet."),
            Update(at(19, 9, 15), "Løst", "Forbindelsen er udvidet, og svartiderne er normale."),
        )),
    ]


def next_tuesday(after: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """17:00–19:00 Copenhagen on the first Tuesday after the day of `after`."""
    day = after.astimezone(CPH).date() + dt.timedelta(days=1)
    day += dt.timedelta(days=(1 - day.weekday()) % 7)
    start = dt.datetime.combine(day, dt.time(17), tzinfo=CPH)
    return start, start + dt.timedelta(hours=2)


LIVE_COMPONENTS = (
    ("Organisation", "Langsomme svar fra Organisation"),
    ("Serviceplatformen", "Fejl på enkelte kald til Serviceplatformen"),
    ("Sags- og Dokumentindeks", "Indeksering af sager er forsinket"),
    ("Ydelsesindeks", "Ydelsesindeks afviser enkelte indberetninger"),
    ("Beskedfordeler", "Beskedfordeleren leverer med forsinkelse"),
)
LIVE_STEPS = (
    ("Undersøger", "Vi undersøger henvendelser om {what}."),
    ("Identificeret", "Årsagen er fundet, og der arbejdes på en rettelse."),
    ("Overvåger", "En rettelse er sat i drift. Vi overvåger situationen."),
    ("Løst", "Hændelsen er løst."),
)


def live(loaded: dt.datetime, now: dt.datetime, every: dt.timedelta) -> list[Item]:
    """The scripted stream after loading: one update every `every`, four per incident."""
    if now < loaded + every:
        return []
    steps = int((now - loaded) / every)
    items = []
    incidents = (steps + len(LIVE_STEPS) - 1) // len(LIVE_STEPS)
    for n in range(max(0, incidents - MAX_ITEMS), incidents):
        component, title = LIVE_COMPONENTS[n % len(LIVE_COMPONENTS)]
        updates = []
        for k, (status, text) in enumerate(LIVE_STEPS):
            step = n * len(LIVE_STEPS) + k + 1
            if step > steps:
                break
            updates.append(Update(loaded + step * every, status, text.format(what=title.lower())))
        stamp = loaded.astimezone(CPH).strftime("%Y%m%d%H%M")
        items.append(Item(f"live-{stamp}-{n + 1}", title, "incident", (component,), tuple(updates)))
    return items


def _when(t: dt.datetime) -> str:
    local = t.astimezone(CPH)
    return f"{MONTHS[local.month - 1]} {local.day:2d}, {local:%H:%M} {local.tzname()}"


def render(items: list[Item], now: dt.datetime) -> str:
    """The RSS document for the items whose updates are due at `now` (newest items first)."""
    due = []
    for item in items:
        updates = [u for u in item.updates if u.at <= now]
        if updates:
            due.append((item, updates))
    due.sort(key=lambda iu: iu[1][-1].at, reverse=True)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">', "  <channel>",
           "    <title>Fælleskommunal driftstatus (demo) - Hændelseshistorik</title>",
           f"    <link>{BASE}</link>",
           "    <description>Fælleskommunal driftstatus (demo) - Hændelseshistorik</description>",
           f"    <pubDate>{format_datetime(now.astimezone(dt.UTC))}</pubDate>"]
    for item, updates in due[:MAX_ITEMS]:
        body = ""
        if item.scheduled is not None:  # Statuspage's first line of a maintenance item
            first, last = (t.astimezone(CPH) for t in item.scheduled)
            until = f"{last:%H:%M}" if first.date() == last.date() else _when(last).rsplit(" ", 1)[0]
            body += f"<p><strong>THIS IS A SCHEDULED EVENT {_when(first).rsplit(' ', 1)[0]} - {until} " \
                    f"{last.tzname()}</strong></p>"
        body += "".join(f"<p><small>{_when(u.at)}</small><br><strong>{u.status}</strong> - {html.escape(u.text)}</p>"
                        for u in reversed(updates))
        lead = "Denne planlagte vedligeholdelse berørte" if item.kind == "maintenance" else "Denne hændelse berørte"
        body += f"<p>{lead}: {', '.join(item.components)}.</p>"
        url = f"{BASE}/{'incidents'}/{item.slug}"
        out += ["    <item>", f"      <title>{html.escape(item.title)}</title>",
                f"      <description>{html.escape(body)}</description>",
                f"      <pubDate>{format_datetime(updates[-1].at.astimezone(dt.UTC))}</pubDate>",
                f"      <link>{url}</link>", f"      <guid>{url}</guid>", "    </item>"]
    out += ["  </channel>", "</rss>", ""]
    return "\n".join(out)


def write_atomically(path: os.PathLike[str] | str, text: str) -> bool:
    """Write `text` to `path` through a temporary file and a rename; False when unchanged."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def feed_items(start: dt.datetime, end: dt.datetime, loaded: dt.datetime, now: dt.datetime,
               every: dt.timedelta) -> list[Item]:
    """All items of the demo feed as of `now`."""
    return history(start, end) + live(loaded, now, every)


def write_initial(settings: Settings, start: dt.datetime, end: dt.datetime, loaded: dt.datetime) -> None:
    """Write the feed as it stands when the demo is loaded."""
    every = dt.timedelta(minutes=settings.demo.feed_update_minutes)
    write_atomically(settings.path(settings.demo.feed_path), render(feed_items(start, end, loaded, loaded, every),
                                                                      loaded))
