"""The OpenAPI document: valid OpenAPI 3.1, one operation per endpoint with its stable id, tag,
request and response models and the documented error responses; no trailing-slash duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from openalgo.api.v1.endpoints import ENDPOINTS, Tag
from openalgo.app import create_app
from tests.api.v1.contract import add_probes
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = add_probes(
        create_app(make_settings(tmp_path_factory.mktemp("openapi"))), typed_responses=True
    )
    return app.openapi()


def test_the_real_app_schema_validates(tmp_path: Path) -> None:
    app: FastAPI = create_app(make_settings(tmp_path))
    validate(app.openapi())


def test_the_full_v1_schema_validates(schema: dict[str, Any]) -> None:
    validate(schema)
    assert schema["openapi"].startswith("3.1")


def test_one_operation_per_endpoint_with_its_stable_id(schema: dict[str, Any]) -> None:
    operations = {
        op["operationId"]: (path, method)
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    for ep in ENDPOINTS:
        assert operations[ep.operation_id] == (ep.full_path, ep.method.lower())
    assert not [p for p in schema["paths"] if p.endswith("/") and p != "/"]


def test_every_operation_is_tagged_and_documents_its_errors(schema: dict[str, Any]) -> None:
    tags = {t["name"] for t in schema["tags"]}
    assert {t.value for t in Tag} <= tags
    for ep in ENDPOINTS:
        op = schema["paths"][ep.full_path][ep.method.lower()]
        assert op["tags"] == [ep.tag.value]
        assert op["summary"] == ep.summary
        codes = set(op["responses"])
        assert {"200", "400", "403", "404", "413", "429", "500"} <= codes, ep.name
        if ep.creates_orders:
            assert {"409", "503"} <= codes
        for code in codes - {"200", "422"}:
            ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse")


def test_request_and_response_models_are_referenced(schema: dict[str, Any]) -> None:
    for ep in ENDPOINTS:
        op = schema["paths"][ep.full_path][ep.method.lower()]
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.rsplit("/", 1)[1].startswith(ep.response.__name__)
        if ep.request is not None:
            body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert body.rsplit("/", 1)[1] == ep.request.__name__
        else:
            names = {p["name"] for p in op["parameters"]}
            assert {"apikey"} <= names


def test_request_schemas_say_numbers_may_be_strings(schema: dict[str, Any]) -> None:
    place = schema["components"]["schemas"]["PlaceOrderRequest"]
    quantity = place["properties"]["quantity"]
    assert {v["type"] for v in quantity["anyOf"]} == {"number", "string"}
    assert place["additionalProperties"] is False
    assert "examples" in place


def test_optional_response_keys_are_not_nullable(schema: dict[str, Any]) -> None:
    schemas = schema["components"]["schemas"]
    order = schemas.get("OrderResponse-Output", schemas.get("OrderResponse"))
    assert order is not None
    assert order["properties"]["mode"] == {
        "const": "analyze",
        "type": "string",
        "description": 'Present, as "analyze", when the sandbox served the request',
        "title": "Mode",
    }
    assert set(order["required"]) == {"status", "orderid"}


def _examples(model: type[Any] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    extra = model.model_config.get("json_schema_extra") or {}
    return list(extra.get("examples", [])) if isinstance(extra, dict) else []


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda ep: ep.name)
def test_swagger_examples_are_valid_and_round_trip(ep: Any) -> None:
    for example in _examples(ep.request):
        ep.request.model_validate(example)
    for example in _examples(ep.response):
        assert ep.response.model_validate(example).model_dump(mode="json") == example


def test_every_request_model_has_an_example() -> None:
    missing = {ep.request.__name__ for ep in ENDPOINTS if ep.request and not _examples(ep.request)}
    assert not missing
