from __future__ import annotations

import json

import pytest

from inprod import endpoints
from inprod.endpoints import EndpointSettings
from inprod.errors import InvalidInput


def test_endpoint_lifecycle_from_the_cli(cli, tiny_model: str) -> None:
    cli.ok(
        "endpoints",
        "create",
        "phone-inspector",
        "--model",
        tiny_model,
        "--set",
        "max_batch_size=64",
    )
    shown = json.loads(cli.ok("endpoints", "show", "phone-inspector", "--json").stdout)
    assert shown["resolves_to"] == "tiny@1"
    assert shown["settings"]["max_batch_size"] == 64
    cli.ok(
        "endpoints",
        "update",
        "phone-inspector",
        "--set",
        "redact=serial,owner",
        "--set",
        "timeout_ms=250",
    )
    listed = json.loads(cli.ok("endpoints", "list", "--json").stdout)
    assert listed[0]["settings"]["redact"] == ["serial", "owner"]
    assert listed[0]["settings"]["timeout_ms"] == 250
    assert listed[0]["settings"]["max_batch_size"] == 64
    cli.ok("endpoints", "delete", "phone-inspector")
    assert json.loads(cli.ok("endpoints", "list", "--json").stdout) == []


def test_endpoint_errors_are_clean_and_store_nothing(cli, store, tiny_model: str) -> None:
    cli.fails("endpoints", "create", "e", "--model", "tiny@7", match="no version 7")
    cli.fails("endpoints", "create", "e", "--model", "nope@1", match="no model 'nope'")
    cli.fails(
        "endpoints",
        "create",
        "e",
        "--model",
        tiny_model,
        "--set",
        "max_batch=3",
        match="unknown endpoint setting",
    )
    cli.fails(
        "endpoints",
        "create",
        "e",
        "--model",
        tiny_model,
        "--set",
        "sample_rate=2",
        match="sample_rate",
    )
    cli.fails("endpoints", "create", "e", "--model", tiny_model, "--set", "oops", match="KEY=VALUE")
    assert endpoints.list_endpoints(store=store) == []
    cli.ok("endpoints", "create", "e", "--model", tiny_model)
    cli.fails("endpoints", "create", "e", "--model", tiny_model, match="already exists")
    cli.fails("endpoints", "show", "f", match="known endpoints: 'e'")
    cli.fails("endpoints", "update", "e", "--set", "max_instances=0", match="max_instances")
    assert endpoints.get("e", store=store).settings.max_instances == 1000


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_batch_size": 1.5}, "max_batch_size"),
        ({"max_wait_ms": -1}, "max_wait_ms"),
        ({"timeout_ms": float("nan")}, "timeout_ms"),
        ({"redact": "serial"}, "redact"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_name_the_field(settings: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        EndpointSettings.from_dict(settings)
    assert info.value.field == field
