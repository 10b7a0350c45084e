"""Property-based run of schemathesis against ``/openapi.json`` (no network: in-process ASGI).

For every operation the schema lists, generated requests (carrying a valid API key in a header) (valid and invalid) must never produce a
5xx, and every response must match its documented status, content type and schema; invalid
requests must be refused with a 4xx. The number of examples per operation is bounded
(``OPENALGO_FUZZ_EXAMPLES``, default 20) so the run fits in CI.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks

from tests.support.fuzz import FUZZ_HEADERS, contract_app, real_app

EXAMPLES = int(os.environ.get("OPENALGO_FUZZ_EXAMPLES", "20"))
RESPONSE_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
# Refusal of invalid requests is checked on the probe app, whose routes validate with the same
# models: on the real app the fuzzer's own `apikey` is dropped for the header's (a mutation of it
# would otherwise be judged "accepted"), which that check cannot know.
CHECKS = [*RESPONSE_CHECKS, checks.negative_data_rejection]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

real = schemathesis.openapi.from_asgi("/openapi.json", real_app())
contract = schemathesis.openapi.from_asgi("/openapi.json", contract_app())


@real.parametrize()
@FUZZ
def test_real_app(case: Case[Any]) -> None:
    # A generated `apikey` would win over the header (the body is OpenAlgo's place for the key)
    # and keep the request out of the routes; the refusal of bad keys has tests of its own.
    for part in (case.body, case.query):
        if isinstance(part, dict):
            part.pop("apikey", None)
    case.call_and_validate(headers=FUZZ_HEADERS, checks=RESPONSE_CHECKS)


@contract.include(path_regex=r"^/api/v1/").parametrize()
@FUZZ
def test_v1_request_models(case: Case[Any]) -> None:
    case.call_and_validate(checks=CHECKS)
