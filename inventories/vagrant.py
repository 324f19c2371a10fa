"""Vagrant lab (docs/vagrant.md): the running VMs of the root Vagrantfile.

    vagrant up            # or TOPOLOGY=3+3 vagrant up
    pyinfra inventories/vagrant.py deploys/cluster.py

Hosts, roles, SSH settings and node IPs: vagrant/inventory.py (from `vagrant status`,
`vagrant ssh-config` and vagrant/topology.yaml). Static data: group_data/vagrant.py.
"""

from vagrant.inventory import groups as _groups

_vagrant = _groups()
control_plane = _vagrant["control_plane"]
workers = _vagrant["workers"]
