"""Cluster data for inventories/vagrant.py (the Vagrant lab, 1+4 or 3+3; docs/vagrant.md).

The inventory gives each host its SSH data (user vagrant, with sudo), `node_ip`
(its private-network address), `node_network` and, with 3 control planes, `vip`.
"""

import os

cluster_name = "vagrant"

# Calico's node address autodetection: the private network's interface. The Debian
# boxes keep classic names (net.ifnames=0): eth0 is the NAT/management interface
# (10.0.2.15 on VirtualBox), eth1 the first private network. Anchored, so no eth10 or
# veth1... matches. Another box (Ubuntu on VirtualBox: enp0s8) needs
# VAGRANT_LAB_CALICO_INTERFACE.
calico_interface = os.environ.get("VAGRANT_LAB_CALICO_INTERFACE", "").strip() or "^eth1$"

# VRRP between the control planes by unicast: no reliance on multicast through the
# hypervisor's virtual switch (VirtualBox host-only adapters, libvirt bridges).
keepalived_unicast = True
