"""Cluster data for inventories/lab.py: the local lab, served from its own mirrors on 10.77.0.1.

Only mirror knobs differ from a real site (the same an air-gapped user sets), plus one honest
exception: Debian, where the lab gets its real binaries, has no containerd 2.2/2.3, so the lab
runs Debian's real containerd 2.1.9 (testing/unstable), which containerd's RELEASES.md lists for
Kubernetes 1.35 only; `allow_unsupported_containerd` accepts it. runc is the newest Debian build
that runs on the lab's OS (1.1.5 on Debian 12, 1.4.3 on Debian 13). Their digests are those of
the files the lab serves (see lab/artifacts.py). The VIP (3 control planes only) comes from the
inventory, which knows the topology.
"""

import lab.mirror as _mirror  # underscore: pyinfra ignores it as data

_MIRROR = "http://10.77.0.1:8080"

cluster_name = "lab"
ssh_user = "root"
node_network = "10.77.0.0/24"
kube_apt_repo_url = f"{_MIRROR}/k8s/core:/stable:/v{{minor}}/deb/"
calico_operator_manifest_url = f"{_MIRROR}/calico/{{version}}/tigera-operator.yaml"
calico_crds_manifest_url = f"{_MIRROR}/calico/{{version}}/operator-crds.yaml"
containerd_version = _mirror.artifact_version("containerd")
containerd_download_url = (
    f"{_MIRROR}/github/containerd/containerd/releases/download/v{{version}}/containerd-{{version}}-linux-{{arch}}.tar.gz"
)
containerd_sha256 = _mirror.artifact_sha256("containerd")
allow_unsupported_containerd = True
runc_version = _mirror.artifact_version("runc")
runc_download_url = f"{_MIRROR}/github/opencontainers/runc/releases/download/v{{version}}/runc.{{arch}}"
runc_sha256 = _mirror.artifact_sha256("runc")
# This build machine's kernel offers cgroup v1 only, and the nspawn nodes inherit it.
allow_cgroup_v1 = True
# etcd's client tools (deploys/etcd.py) at the version of the etcd the lab's nodes run; unset while the
# lab's artifacts come from a recipe without etcd (the next `python -m lab up` builds it).
try:
    etcd_version = _mirror.artifact_version("etcd")
    etcd_sha256 = _mirror.artifact_sha256("etcd")
    etcd_download_url = (
        f"{_MIRROR}/github/etcd-io/etcd/releases/download/v{{version}}/etcd-v{{version}}-linux-{{arch}}.tar.gz"
    )
except RuntimeError:
    pass
