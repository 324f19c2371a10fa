"""The merged key table: each key declared once with a type, and all of it in the README."""

from __future__ import annotations

import re

import pytest

from deploys import components, model, schema
from tests import plan


def readme_table() -> dict[str, tuple[str, str, str]]:
    """key -> (scope, type, default) from the README's data reference."""
    text = (plan.REPO / "README.md").read_text()
    section = text.split("## Data reference", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| (\w+) \| (.+?) \| (.+?) \| ", section, re.M)
    return {key: (scope, type_name, default) for key, scope, type_name, default in rows}


def test_every_key_documented_with_its_scope_type_and_default() -> None:
    table = readme_table()
    keys = components.schema()
    assert set(table) == set(keys), f"README and code disagree on: {sorted(set(table) ^ set(keys))}"
    for name, key in keys.items():
        scope, type_name, default = table[name]
        assert (scope, type_name) == (key.scope, key.type.name), f"README row of {name!r}: {scope}, {type_name}"
        if key.scope == schema.CLUSTER or key.default is not None:
            assert default == f"`{key.default!r}`".replace("'", '"'), f"README default of {name!r}: {default}"


def test_defaults_are_plain_values_of_their_own_type() -> None:
    for name, key in components.schema().items():
        assert components.defaults()[name] == key.default
        assert key.type.problem(key.default) is None, f"the default of {name!r} does not fit its type"


def test_host_keys_are_the_models() -> None:
    assert model.HOST_KEYS == ("node_ip", "node_name", "keepalived_interface")
    assert {n for n, k in components.schema().items() if k.scope == schema.HOST} == set(model.HOST_KEYS)


def test_a_key_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared by two components"):
        model.merged([{"a": schema.Key(1, schema.PORT)}, {"a": schema.Key(2, schema.PORT)}])


def test_pyinfra_keys_are_declared_foreign() -> None:
    """Every global argument and connector data key of the installed pyinfra is in schema.FOREIGN_KEYS."""
    from importlib.metadata import entry_points

    from pyinfra.api.arguments import all_global_arguments

    pyinfra_keys = {name for name, _ in all_global_arguments()} - {"name"}
    for entry in entry_points(group="pyinfra.connectors"):
        pyinfra_keys |= set(getattr(entry.load(), "data_meta", None) or {})
    assert pyinfra_keys <= set(schema.FOREIGN_KEYS), sorted(pyinfra_keys - set(schema.FOREIGN_KEYS))
    assert not set(schema.FOREIGN_KEYS) & set(components.schema())


def test_the_cluster_deploy_runs_the_one_list_in_order(prod_plan: plan.Plan) -> None:
    """deploys/cluster.py has no list of its own: its deploys appear in components.COMPONENTS order."""
    expected = [c.DEPLOY._inner.deploy_name for c in components.COMPONENTS if c.DEPLOY is not None]
    seen: list[str] = []
    for name, _ in prod_plan.steps:
        deploy_name = name.split(" | ", 1)[0]
        if deploy_name not in seen:
            seen.append(deploy_name)
    assert seen == expected


def test_every_component_declares_its_parts() -> None:
    from deploys.facts import Owned

    for component in components.COMPONENTS:
        assert isinstance(component.KEYS, dict) and isinstance(component.OWNS, Owned), component.__name__
        assert component.DEPLOY is None or callable(component.DEPLOY), component.__name__
