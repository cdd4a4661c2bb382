"""Score colours follow the number as shown: red below 4,0, yellow below 7,0, green from 7,0,
read from the score rounded half up to one decimal, in the chips, the histogram and the legend."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from monitor.web.pages.charts import score_bins

LEGEND = "Farven følger scoren, som den vises med én decimal"


def chip(app: Flask, value: float, lang: str = "da") -> str:
    with app.test_request_context(f"/?lang={lang}"):
        return app.jinja_env.from_string('{% from "_macros.html" import score %}{{ score(v) }}').render(v=value)


@pytest.mark.parametrize(("value", "shown", "colour"), [
    (3.9528, "4,0", "mid"),  # Kerteminde: shown as 4,0, so not red
    (3.9694, "4,0", "mid"),  # Dragør
    (3.9499, "3,9", "low"),
    (3.95, "4,0", "mid"),  # half up, as the page rounds
    (6.9499, "6,9", "mid"),
    (6.95, "7,0", "high"),
    (1.0, "1,0", "low"),
    (10.0, "10,0", "high"),
])
def test_a_score_is_coloured_by_the_value_it_shows(app: Flask, value: float, shown: str, colour: str) -> None:
    assert chip(app, value) == f'<span class="score {colour}">{shown}</span>'


def test_scores_shown_as_4_0_count_in_the_4_to_5_bar_as_their_colour_says() -> None:
    bins = score_bins([3.9528, 3.9694, 3.9499, 9.99])
    assert bins[2] == 1 and bins[3] == 2  # 3–4: only the 3,9; 4–5: both 4,0
    assert bins[8] == 1  # 9.99 shows as 10,0, still in the last bar


def test_the_method_page_states_the_colour_rule_with_the_thresholds_as_shown(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/metode").get_data(as_text=True)
    assert LEGEND in page
    assert re.search(r'class="score low">1,0–3,9<.*class="score mid">4,0–6,9<.*class="score high">7,0–10,0<', page)
    english = client.get("/metode?lang=en").get_data(as_text=True)
    assert re.search(r'class="score low">1.0–3.9<', english) and LEGEND not in english
