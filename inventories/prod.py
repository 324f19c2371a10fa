"""Production cluster: 3 control planes (stacked etcd) + 3 workers, the seed's names and addresses.

The API is reached through the VIP 192.168.11.230:16443 (keepalived + HAProxy on the
control planes); cluster data: group_data/prod.py.
"""

control_plane = [
    ("k8s-master-node0", {"ssh_hostname": "192.168.11.220", "node_ip": "192.168.11.220"}),
    ("k8s-master-node1", {"ssh_hostname": "192.168.11.221", "node_ip": "192.168.11.221"}),
    ("k8s-master-node2", {"ssh_hostname": "192.168.11.222", "node_ip": "192.168.11.222"}),
]

workers = [
    ("k8s-worker-node0", {"ssh_hostname": "192.168.11.223", "node_ip": "192.168.11.223"}),
    ("k8s-worker-node1", {"ssh_hostname": "192.168.11.224", "node_ip": "192.168.11.224"}),
    ("k8s-worker-node2", {"ssh_hostname": "192.168.11.225", "node_ip": "192.168.11.225"}),
]
