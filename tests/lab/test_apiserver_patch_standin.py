"""The API server stand-in's PATCH: retried on a newer object as the real server does, unless the patch pins a version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.lab.test_standin_timing import mod  # noqa: F401  (the stand-in modules imported from the source tree)


@pytest.fixture()
def apiserver(mod: Any) -> Any:  # noqa: F811
    return mod("apiserver")


class Racing:
    """A stored Node that another writer (a kubelet) changes between a patch's read and its write, RACES times."""

    def __init__(self, races: int) -> None:
        self.node = {"kind": "Node", "metadata": {"name": "n1", "resourceVersion": "10"}, "spec": {}}
        self.races = races
        self.writes = 0

    def must_get(self, res: Any, ns: Any, name: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.node))

    def update(self, apiserver: Any, res: Any, new: dict[str, Any]) -> dict[str, Any]:
        if self.races:
            self.races -= 1
            self.node["metadata"]["resourceVersion"] = str(int(self.node["metadata"]["resourceVersion"]) + 1)
        if new["metadata"]["resourceVersion"] != self.node["metadata"]["resourceVersion"]:
            raise apiserver.conflict(res, new["metadata"]["name"])
        self.writes += 1
        new["metadata"]["resourceVersion"] = str(int(new["metadata"]["resourceVersion"]) + 1)
        self.node = new
        return new


def patch(apiserver: Any, store: Racing, monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]) -> Any:
    monkeypatch.setattr(apiserver, "update", lambda api, res, ns, name, sub, new, who, query, old: store.update(
        apiserver, res, new))
    res = type("Res", (), {"qualified": "nodes", "group": "", "plural": "nodes", "crd": None})()
    return apiserver.patch(store, res, None, "n1", None, json.dumps(body).encode(), "application/merge-patch+json",
                           {}, {})


def test_a_patch_meeting_a_newer_object_is_applied_to_it(apiserver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Racing(races=2)
    code, node = patch(apiserver, store, monkeypatch, {"spec": {"unschedulable": True}})
    assert code == 200 and node["spec"] == {"unschedulable": True} and store.writes == 1


def test_conflicts_past_the_retries_are_the_callers(apiserver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Racing(races=apiserver.PATCH_CONFLICT_RETRIES + 1)
    with pytest.raises(apiserver.Invalid, match="the object has been modified"):
        patch(apiserver, store, monkeypatch, {"spec": {"unschedulable": True}})


def test_a_patch_pinning_a_resource_version_is_a_precondition(apiserver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Racing(races=0)
    with pytest.raises(apiserver.Invalid, match="the object has been modified"):
        patch(apiserver, store, monkeypatch, {"metadata": {"resourceVersion": "9"}, "spec": {"unschedulable": True}})
    code, _ = patch(apiserver, store, monkeypatch, {"metadata": {"resourceVersion": "10"}, "spec": {}})
    assert code == 200
