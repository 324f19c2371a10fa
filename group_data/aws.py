"""Data for inventories/aws.py (instances made by `python -m cloud.aws up`).

Debian's cloud images log in as "admin" with passwordless sudo. The inventory
sets per cluster: cluster_name, node_network (the subnet), ssh_user (from the
instance's tag), calico_encapsulation = "VXLAN" (pod traffic is encapsulated, so
the instances keep their source/destination check) and, for 3 control planes,
api_load_balancer = "external" with control_plane_endpoint = "<NLB DNS>:16443";
with `up --public-api`, apiserver_cert_sans = [the internet-facing NLB's name or the
control plane's Elastic IP].
"""

ssh_user = "admin"
_sudo = True
