"""docs/api.md documents every endpoint, with exactly the fields its request model takes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openalgo.api.v1.endpoints import ENDPOINTS, Endpoint

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def section(text: str, ep: Endpoint) -> str:
    heading = f"### {ep.method} {ep.full_path}\n"
    assert heading in text, f"docs/api.md has no section {heading.strip()!r}"
    body = text.split(heading, 1)[1]
    return body.split("\n### ", 1)[0]


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda ep: ep.name)
def test_every_endpoint_is_documented_with_its_fields(ep: Endpoint) -> None:
    text = section(DOC.read_text(), ep)
    first_table = next(block for block in text.split("\n\n") if block.startswith("| Field"))
    documented = re.findall(r"^\| `([^`]+)` \|", first_table, flags=re.M)
    model = ep.request or ep.query
    assert model is not None
    expected = [f.alias or name for name, f in model.model_fields.items()]
    assert documented == expected
    assert "Differences from OpenAlgo" in text
    assert ("*Idempotency-Key*" in text) == ep.creates_orders
    assert ("*Sandbox*" in text) == ep.sandbox_served
