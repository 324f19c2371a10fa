"""AWS cluster made by `python -m cloud.aws up`: its instances, discovered by tag.

    AWS_CLUSTER=demo AWS_REGION=us-east-1 pyinfra inventories/aws.py deploys/cluster.py

Groups come from each instance's role tag; SSH goes to the public address, the
cluster uses the private one (`node_ip`). With 3 control planes the API is the
internal NLB (`api_load_balancer = "external"`), with one it is the control
plane's private address. A cluster made with `up --public-api` also gets
`apiserver_cert_sans`: the internet-facing NLB's name or the control plane's
Elastic IP. Static data: group_data/aws.py.
"""

from __future__ import annotations

import os

from pyinfra.api.exceptions import InventoryError

from cloud import CloudError
from cloud.inventory import discover

try:
    _groups = discover(os.environ.get("AWS_CLUSTER"), os.environ.get("AWS_REGION") or None)
except CloudError as _exc:
    raise InventoryError(f"inventories/aws.py: {_exc}") from None

control_plane = _groups["control_plane"]
workers = _groups["workers"]
