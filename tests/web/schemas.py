"""Validate response bodies against the app's own OpenAPI schemas (JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from findsupport.config import Settings
from findsupport.web.openapi import build_openapi

_cache: dict[int, dict[str, Any]] = {}


def check_schema(body: Any, schema_name: str, settings: Settings | None = None) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``body`` matches ``components/schemas/<name>``."""
    spec = build_openapi(settings or Settings())
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    Draft202012Validator(root).validate(body)
