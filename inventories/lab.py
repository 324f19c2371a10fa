"""The local lab (systemd-nspawn nodes made by `python -m lab up`). Cluster data: group_data/lab.py.

Hosts, roles and addresses come from the lab's state file; SSH goes through the lab's
network namespace via the ssh_config the lab writes (see lab/sshconf.py).
"""

from lab.inventory import groups as _groups

_lab = _groups()
control_plane = _lab["control_plane"]
workers = _lab["workers"]
