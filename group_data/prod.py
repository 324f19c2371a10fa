"""Cluster data for inventories/prod.py (3 + 3, highly available)."""

cluster_name = "prod"
ssh_user = "root"
vip = "192.168.11.230"
node_network = "192.168.11.0/24"
keepalived_router_id = 51
