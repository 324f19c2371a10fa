"""1 to 7 control planes: an even number is refused before any host is contacted, an odd one is planned."""

from __future__ import annotations

from typing import Any

import pytest

from deploys import components, model
from tests import plan
from tests.deploys import shapes


@pytest.mark.parametrize("count", [2, 4, 6])
def test_an_even_number_of_control_planes_is_refused(count: int, private: dict[str, Any]) -> None:
    with pytest.raises(model.ClusterConfigError) as caught:
        model.build(shapes.sized(count, 1, private), components.defaults())
    message = str(caught.value)
    assert f"has {count} hosts" in message and "stacked etcd needs an odd number" in message


@pytest.mark.parametrize("count", [1, 3, 5, 7])
def test_an_odd_number_of_control_planes_is_planned(count: int, private: dict[str, Any]) -> None:
    p = plan.run(shapes.sized(count, 2, private))
    cps = [f"cp{i}" for i in range(count)]
    assert [n.name for n in p.cluster.control_planes] == [f"@fake/{name}" for name in cps]
    assert [n.index for n in p.cluster.control_planes] == list(range(count))
    assert [n.index for n in p.cluster.workers] == [0, 1]
    assert p.hosts_of("kubeadm init") == ["cp0"]
    assert p.hosts_of("Control plane joins") == cps[1:]
    assert p.hosts_of("Worker joins") == ["w0", "w1"]
    assert p.hosts_of("API server Secrets encryption config") == cps
    if count == 1:  # the API server itself is the endpoint: no VIP, no HAProxy, no keepalived
        assert p.cluster.endpoint == "10.3.0.10:6443"
        assert p.hosts_of("HAProxy configuration") == [] and p.hosts_of("keepalived configuration") == []
        return
    assert p.cluster.endpoint == "10.3.0.100:16443"
    assert p.hosts_of("HAProxy configuration") == cps and p.hosts_of("keepalived configuration") == cps
    for name in cps:  # every control plane balances every API server; VRRP priorities all differ
        config = plan.uploads(p, name)["/etc/haproxy/haproxy.cfg"].decode()
        assert all(f"10.3.0.{10 + i}:6443" in config for i in range(count)), name
    priorities = [
        next(line.split()[1] for line in plan.uploads(p, name)["/etc/keepalived/keepalived.conf"].decode().splitlines()
             if line.strip().startswith("priority"))
        for name in cps
    ]
    assert priorities == [str(250 - 10 * i) for i in range(count)]  # MASTER 250, then 240, 230...


def test_no_control_plane_is_refused(private: dict[str, Any]) -> None:
    with pytest.raises(model.ClusterConfigError, match="is empty"):
        model.build(plan.fake_inventory([], [("w0", {"node_ip": "10.3.0.50"})], dict(private)), components.defaults())
