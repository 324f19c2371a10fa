"""Data shared by every cluster. Every key, its default and meaning: README, "Data reference".

Set a key here to change it for all your clusters; per-cluster values go in
group_data/<inventory name>.py, per-host values in the inventory.
"""

from deploys.components import defaults
from deploys.model import check_before_connect

# Build and validate the cluster model as soon as pyinfra has loaded the
# inventory, before it connects to any host: bad input touches nothing.
check_before_connect(defaults)
