"""Data shared by every cluster. Every key, its default and meaning: README, "Data reference".

Set a key here to change it for all your clusters; per-cluster values go in
group_data/<inventory name>.py, per-host values in the inventory. Every name a group data
file defines becomes data, but imported names and names starting with "__"; a name starting
with "_" is taken as a helper unless it looks like one of pyinfra's ("_sudo"...).
"""

import sys
from pathlib import Path

__repository = str(Path(__file__).resolve().parent.parent)
if __repository not in sys.path:  # pyinfra started elsewhere: the deploy package is this repository's
    sys.path.insert(0, __repository)

from deploys import speed, sshproxy  # noqa: E402
from deploys.components import defaults  # noqa: E402
from deploys.context import install_check_before_connect  # noqa: E402

speed.install()  # pyinfra's per-host and per-operation look-ups cached (deploys/speed.py)
sshproxy.install()  # whole writes through an SSH ProxyCommand under gevent (deploys/sshproxy.py)

# Build and validate the cluster model as soon as pyinfra has loaded the
# inventory, before it connects to any host: bad input touches nothing (deploys/context.py).
install_check_before_connect(defaults)
