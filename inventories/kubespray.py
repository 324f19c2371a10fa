"""Deploy straight from a kubespray inventory (INI or YAML file, or its directory with group_vars/):

    KUBESPRAY_INVENTORY=path/to/inventory.ini pyinfra inventories/kubespray.py deploys/cluster.py

Groups `control_plane` and `workers` (hosts in no kubespray node group, and groups kubespray does
not know, are left out with a warning), each host with node_ip (kubespray's ip; else access_ip or
ansible_host, stated as a warning), ssh_hostname (ansible_host) and ssh_user (ansible_user);
the cluster data mapped from group_vars is the inventory-wide data, so
group_data/kubespray.py, if you write one, overrides it. KUBESPRAY_API_LB=auto|vip|external
says how to read loadbalancer_apiserver (see docs/kubespray.md). Warnings go to stderr;
what cannot be mapped stops the run before any host is contacted.
"""

from __future__ import annotations

import os as _os
import sys as _sys
from pathlib import Path as _Path

from pyinfra.api.exceptions import PyinfraError as _PyinfraError

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # the repository, for `interop`

from interop.kubespray import pyinfra_groups as _pyinfra_groups  # noqa: E402

_source = _os.environ.get("KUBESPRAY_INVENTORY")
if not _source:
    raise _PyinfraError(
        "inventories/kubespray.py needs KUBESPRAY_INVENTORY=<kubespray inventory file or directory>, e.g. "
        "KUBESPRAY_INVENTORY=inventory/mycluster/inventory.ini pyinfra inventories/kubespray.py deploys/cluster.py"
    )
_imported, _groups = _pyinfra_groups(_source, _os.environ.get("KUBESPRAY_API_LB", "auto"))
for _finding in _imported.warnings:
    print(f"kubespray inventory: warning: {_finding}", file=_sys.stderr)

control_plane = _groups["control_plane"]
workers = _groups["workers"]
all = _groups["all"]  # noqa: A001 - pyinfra's inventory-wide group: (hosts, cluster data)
