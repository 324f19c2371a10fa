"""Calico: pinned operator manifest from an overridable URL, Installation with the pod CIDR."""

from __future__ import annotations

import yaml

from deploys import calico
from tests import plan


def test_installation_uses_pod_cidr_and_node_ip(prod_plan: plan.Plan) -> None:
    text = plan.uploads(prod_plan, "k8s-master-node0")["/etc/kubernetes/addons/calico-installation.yaml"].decode()
    installation, apiserver = yaml.safe_load_all(text)
    pool = installation["spec"]["calicoNetwork"]["ipPools"][0]
    assert pool["cidr"] == "10.244.0.0/16" and pool["encapsulation"] == "VXLANCrossSubnet"
    assert installation["spec"]["calicoNetwork"]["nodeAddressAutodetectionV4"] == {"kubernetes": "NodeInternalIP"}
    assert apiserver["kind"] == "APIServer"


def test_applied_once_from_first_control_plane(prod_plan: plan.Plan) -> None:
    assert prod_plan.hosts_of("tigera-operator applied") == ["k8s-master-node0"]
    commands = prod_plan.commands("k8s-master-node0")
    apply = [c for c in commands if c.startswith("kubectl")]
    # Calico >= 3.30: the CRDs first (the operator manifest has none), then the operator,
    # then every CRD the applied resources use must be established.
    assert apply[0].endswith("apply --server-side --force-conflicts -f /etc/kubernetes/addons/calico-crds-v3.31.7.yaml")
    assert apply[1].endswith("apply --server-side --force-conflicts -f /etc/kubernetes/addons/tigera-operator-v3.31.7.yaml")
    assert apply[2].endswith(
        "wait --for condition=established --timeout=120s"
        " crd/installations.operator.tigera.io crd/apiservers.operator.tigera.io"
    )
    assert apply[3].endswith("apply -f /etc/kubernetes/addons/calico-installation.yaml")
    assert any("v3.31.7/manifests/operator-crds.yaml" in c for c in commands)


def test_older_calico_has_its_crds_in_the_operator_manifest(private: dict) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", calico_version="v3.29.4", **private)
    commands = plan.run(inv).commands("k8s-test-cp0")
    assert not any("operator-crds" in c or "calico-crds" in c for c in commands)
    apply = [c for c in commands if c.startswith("kubectl")]
    assert apply[0].endswith("-f /etc/kubernetes/addons/tigera-operator-v3.29.4.yaml") and "crd/apiservers" in apply[1]


def test_manifest_url_is_pinned_and_overridable(private: dict) -> None:
    inv = plan.from_inventory_file(
        plan.REPO / "inventories" / "test.py",
        calico_version="v3.29.1",
        calico_operator_manifest_url="http://mirror.local/calico/{version}/tigera-operator.yaml",
        calico_encapsulation="IPIP",
        calico_interface="eth1",
        **private,
    )
    p = plan.run(inv)
    assert calico.manifest_url(p.cluster) == "http://mirror.local/calico/v3.29.1/tigera-operator.yaml"
    assert any("http://mirror.local/calico/v3.29.1/tigera-operator.yaml" in c for c in p.commands("k8s-test-cp0"))
    installation = next(yaml.safe_load_all(calico.installation(p.cluster)))
    assert installation["spec"]["calicoNetwork"]["nodeAddressAutodetectionV4"] == {"interface": "eth1"}
    assert installation["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] == "IPIP"
