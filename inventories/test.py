"""Test cluster: 1 control plane (with etcd) + 4 workers. Cluster data: group_data/test.py.

Host names are the nodes' names; `node_ip` is the address the cluster uses (it may
differ from the SSH address, given as `ssh_hostname`).
"""

control_plane = [
    ("k8s-test-cp0", {"ssh_hostname": "192.168.10.10", "node_ip": "192.168.10.10"}),
]

workers = [
    ("k8s-test-worker0", {"ssh_hostname": "192.168.10.20", "node_ip": "192.168.10.20"}),
    ("k8s-test-worker1", {"ssh_hostname": "192.168.10.21", "node_ip": "192.168.10.21"}),
    ("k8s-test-worker2", {"ssh_hostname": "192.168.10.22", "node_ip": "192.168.10.22"}),
    ("k8s-test-worker3", {"ssh_hostname": "192.168.10.23", "node_ip": "192.168.10.23"}),
]
