"""Cluster data for inventories/test.py (1 + 4). The endpoint is the control plane's node IP:6443."""

cluster_name = "test"
ssh_user = "root"
