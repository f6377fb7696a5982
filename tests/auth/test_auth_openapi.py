"""The auth endpoints are fully described in OpenAPI."""

from __future__ import annotations

import pytest

AUTH_PATHS = {
    ("post", "/v1/auth/token"): {401, 415, 422},
    ("post", "/v1/riders"): {422},
    ("get", "/v1/me"): {401},
    ("post", "/v1/users"): {401, 403, 409, 422},
    ("get", "/v1/users"): {401, 403, 422},
    ("post", "/v1/users/{principal_id}/revoke-tokens"): {401, 403, 404, 422},
    ("post", "/v1/api-keys"): {401, 403, 422},
    ("get", "/v1/api-keys"): {401, 403, 422},
    ("delete", "/v1/api-keys/{key_id}"): {401, 403, 404, 422},
}


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json()


@pytest.mark.parametrize(("method", "path"), list(AUTH_PATHS))
def test_operation_is_documented(spec, method, path):
    op = spec["paths"][path][method]
    assert op["tags"] == ["auth"]
    assert op["summary"] and op["description"] and "\n" not in op["description"].strip()
    codes = {int(c) for c in op["responses"]}
    success = {c for c in codes if c < 400}
    assert len(success) == 1
    ok = op["responses"][str(success.pop())]
    assert "schema" in ok["content"]["application/json"]
    for code in AUTH_PATHS[(method, path)]:
        assert "application/problem+json" in op["responses"][str(code)]["content"], code


def test_token_endpoint_documents_both_body_types(spec):
    content = spec["paths"]["/v1/auth/token"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/x-www-form-urlencoded", "application/json"}


def test_security_schemes(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["BearerToken"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    assert schemes["ApiKey"] == schemes["ApiKey"] | {"in": "header", "name": "X-API-Key"}


def test_no_secret_fields_in_views(spec):
    schemas = spec["components"]["schemas"]
    for name in ("Principal", "ApiKey"):
        assert not {"phone", "password_hash", "secret_hash", "key"} & set(
            schemas[name]["properties"]
        )
