"""Validates the OpenAPI document on standard input (`cairn openapi | python3 scripts/check-openapi.py`)
with openapi-spec-validator, the reference validator for OpenAPI 3.1."""
import json
import sys

from openapi_spec_validator import validate

doc = json.load(sys.stdin)
validate(doc)
print(f"openapi: valid ({len(doc['paths'])} paths, {len(doc['components']['schemas'])} schemas)")
