"""The OpenAPI schemas and the domains' document types describe the same documents.

The API's schemas (`monitor.web.api.SCHEMAS`) say what a client may rely on; the TypedDicts
(`rating/documents.py`, `cutover/documents.py`) are what mypy checks the readers against. A
key in a schema that the type lacks, or a key the schema requires that the type may leave out,
is one description drifting from the other.
"""

from __future__ import annotations

import typing

import pytest

from monitor.cutover import documents as cutover
from monitor.rating import documents as rating
from monitor.web.api import SCHEMAS

PAIRS = [
    ("Rating", rating.RatingDoc), ("Part", rating.PartDoc),
    ("Cutover", cutover.CutoverDocument), ("CutoverMunicipality", cutover.MunicipalityStatus),
    ("CutoverReason", cutover.Reason), ("CutoverAcknowledgement", cutover.Acknowledgement),
    ("CutoverGroup", cutover.Group), ("CutoverNational", cutover.National),
]


def keys(doc_type: type) -> tuple[set[str], set[str]]:
    """(every key, the required keys) of a TypedDict, NotRequired read from its annotations."""
    hints = typing.get_type_hints(doc_type, include_extras=True)
    return set(hints), {k for k, v in hints.items() if typing.get_origin(v) is not typing.NotRequired}


@pytest.mark.parametrize(("schema", "doc_type"), PAIRS, ids=[name for name, _ in PAIRS])
def test_every_key_a_schema_names_is_in_the_type_and_required_where_the_schema_requires_it(schema, doc_type):
    every, required = keys(doc_type)
    described = SCHEMAS[schema]
    assert set(described["properties"]) <= every, f"{schema} describes keys the document lacks"
    assert set(described["required"]) <= required, f"{schema} requires keys the document may leave out"


def test_the_check_finds_a_drift():
    class Narrow(typing.TypedDict):
        code: str

    every, _ = keys(Narrow)
    assert not set(SCHEMAS["CutoverReason"]["properties"]) <= every
