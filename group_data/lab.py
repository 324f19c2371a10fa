"""Cluster data for inventories/lab.py: the local lab, served from its own mirrors on 10.77.0.1.

Only the mirror URLs differ from a real site: the same knobs an air-gapped user sets.
The VIP (3 control planes only) comes from the inventory, which knows the topology.
"""

cluster_name = "lab"
ssh_user = "root"
node_network = "10.77.0.0/24"
kube_apt_repo_url = "http://10.77.0.1:8080/k8s/core:/stable:/v{minor}/deb/"
calico_operator_manifest_url = "http://10.77.0.1:8080/calico/{version}/tigera-operator.yaml"
