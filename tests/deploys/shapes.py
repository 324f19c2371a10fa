"""The example clusters' shapes as @fake inventories built in code (no inventory or group_data file is read).

Loading inventories/*.py runs every group_data/*.py, lab.py included, which reads the lab's
state; these shapes keep the host-free tests independent of whatever the lab is doing.
"""

from __future__ import annotations

from typing import Any, Mapping

from pyinfra.api import Inventory

from tests import plan


def prod(private: Mapping[str, Any], responses: Mapping[Any, Any] | None = None, **data: Any) -> Inventory:
    """inventories/prod.py with group_data/prod.py: 3 control planes behind a VIP, 3 workers."""
    cps = [(f"k8s-master-node{i}", {"node_ip": f"192.168.11.{220 + i}"}) for i in range(3)]
    workers = [(f"k8s-worker-node{i}", {"node_ip": f"192.168.11.{223 + i}"}) for i in range(3)]
    cluster = {"cluster_name": "prod", "vip": "192.168.11.230", "node_network": "192.168.11.0/24", **private, **data}
    return plan.fake_inventory(cps, workers, cluster, responses)


def single(private: Mapping[str, Any], responses: Mapping[Any, Any] | None = None, **data: Any) -> Inventory:
    """inventories/test.py with group_data/test.py: 1 control plane, 4 workers."""
    cps = [("k8s-test-cp0", {"node_ip": "192.168.10.10"})]
    workers = [(f"k8s-test-worker{i}", {"node_ip": f"192.168.10.{20 + i}"}) for i in range(4)]
    return plan.fake_inventory(cps, workers, {"cluster_name": "test", **private, **data}, responses)


def sized(control_planes: int, workers: int, private: Mapping[str, Any], **data: Any) -> Inventory:
    """N control planes (a VIP when more than one) and M workers on 10.3.0.0/24."""
    cps = [(f"cp{i}", {"node_ip": f"10.3.0.{10 + i}"}) for i in range(control_planes)]
    ws = [(f"w{i}", {"node_ip": f"10.3.0.{50 + i}"}) for i in range(workers)]
    vip = {"vip": "10.3.0.100"} if control_planes > 1 else {}
    return plan.fake_inventory(cps, ws, {**vip, **private, **data})
