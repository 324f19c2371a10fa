"""The one look at a node sees everything the deploy manages on it.

Every gate reads the node fact: a file the deploy writes but the fact does not watch, a
package it installs but the fact does not ask dpkg about, a service it starts but the fact
does not ask systemd about, looks absent on every run and is done again for ever (or a
change to it on the node goes unnoticed). The fact's own command, as the @fake hosts
received it, is checked against every command the deploy planned on each host.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from typing import Any

import pytest

from tests import plan
from tests.deploys import shapes

JOIN_CONFIG = "/etc/kubernetes/kubeadm-join.yaml"  # removed right after the join: never watched
APT_INSTALL = re.compile(r"apt-get .*\binstall -y .*?--force-confold (?P<specs>.*)$")


def fact_command(p: plan.Plan, host: str) -> str:
    (command,) = {c for c in plan.fake_calls(p, host) if "dpkg-query" in c and "/proc/swaps" in c}
    return command


def asked_packages(command: str) -> set[str]:
    found = re.search(r"dpkg-query -W -f='[^']*' (?P<names>[^|>]*?) 2>/dev/null", command)
    assert found, f"no dpkg-query in the node fact: {command[:200]}"
    return set(found["names"].split())


def asked_services(command: str) -> set[str]:
    found = re.search(r"systemctl show -p \S+ (?P<names>[^|>]*?) 2>/dev/null", command)
    assert found, "no systemctl show in the node fact"
    return {name.removesuffix(".service") for name in found["names"].split()}


def watched(command: str) -> list[str]:
    found = re.search(r"for f in (?P<paths>.*?); do", command)
    assert found, "no watched-file loop in the node fact"
    return found["paths"].split()


def managed(p: plan.Plan, host: str) -> dict[str, set[str]]:
    """What the deploy's planned commands on HOST install, start and write."""
    packages: set[str] = set()
    services: set[str] = set()
    for command in p.commands(host):
        install = APT_INSTALL.search(command)
        if install:
            packages |= {spec.split("=", 1)[0] for spec in shlex.split(install["specs"])}
        for verb in ("enable", "start", "restart"):
            services |= set(re.findall(rf"systemctl {verb} (\S+)", command))
    files = set(plan.uploads(p, host))
    for command in p.commands(host):  # ops.download: curl -o DEST.part URL && mv DEST.part DEST
        if "sha256sum" not in command:  # release archives are gated by their stamp, not by the file
            files |= set(re.findall(r"&& mv \S+[.]part (\S+)", command))
    return {"packages": packages, "services": services, "files": files - {JOIN_CONFIG}}


@pytest.fixture(scope="module", params=["prod", "single"])
def first_run(request: pytest.FixtureRequest, private: dict[str, Any]) -> plan.Plan:
    return plan.run(shapes.prod(private) if request.param == "prod" else shapes.single(private))


def test_the_fact_asks_about_every_package_the_deploy_installs(first_run: plan.Plan) -> None:
    for node in first_run.cluster.nodes:
        host = node.name.split("/", 1)[-1]
        wanted = managed(first_run, host)["packages"]
        assert wanted, host
        missing = wanted - asked_packages(fact_command(first_run, host))
        assert not missing, f"{host}: installed but never looked at: {sorted(missing)}"


def test_the_fact_asks_about_every_service_the_deploy_runs(first_run: plan.Plan) -> None:
    for node in first_run.cluster.nodes:
        host = node.name.split("/", 1)[-1]
        wanted = managed(first_run, host)["services"]
        assert wanted, host
        missing = wanted - asked_services(fact_command(first_run, host))
        assert not missing, f"{host}: started but never looked at: {sorted(missing)}"


def test_the_fact_watches_every_file_the_deploy_writes(first_run: plan.Plan) -> None:
    for node in first_run.cluster.nodes:
        host = node.name.split("/", 1)[-1]
        patterns = watched(fact_command(first_run, host))
        files = managed(first_run, host)["files"]
        assert files, host
        missing = sorted(f for f in files if not any(fnmatch.fnmatchcase(f, pattern) for pattern in patterns))
        assert not missing, f"{host}: written but never looked at: {missing}"


def test_a_haproxy_control_plane_is_fully_covered(private: dict[str, Any]) -> None:
    """The HA shape's control planes: HAProxy and keepalived, their configs and secrets, are all seen."""
    p = plan.run(shapes.prod(private))
    command = fact_command(p, "k8s-master-node1")
    assert {"haproxy", "keepalived"} <= asked_packages(command) & asked_services(command)
    patterns = watched(command)
    for path in ("/etc/haproxy/haproxy.cfg", "/etc/haproxy/stats.env", "/etc/keepalived/keepalived.conf",
                 "/etc/keepalived/vrrp-auth.conf"):
        assert any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns), path


@pytest.mark.parametrize("path", ["/etc/../shadow", "/etc/x/..", "relative/path", "/etc/a b", "/etc/$(id)"])
def test_an_owned_path_must_be_plain(path: str) -> None:
    from deploys import facts

    with pytest.raises(ValueError, match="only letters, digits and _ . / [*] - are allowed"):
        facts.Owned(files=(path,))


def test_the_fact_reads_this_machines_os_and_packages_for_real() -> None:
    """Run on this (Debian) machine: the OS is named; only installed packages are reported."""
    import subprocess

    from deploys.facts import NodeFacts

    command = NodeFacts().command(node_ip="127.0.0.1")
    state = NodeFacts().process(subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout.splitlines())
    os_release = dict(line.split("=", 1) for line in open("/etc/os-release").read().splitlines() if "=" in line)
    assert state.os == f"{os_release['ID']} {os_release.get('VERSION_ID', '').strip(chr(34))}".strip()
    # packages removed but with config files left (or half-installed) are not installed
    removed = NodeFacts().process(["package kubelet 1.37.1-1.1 deinstall ok config-files",
                                   "package kubeadm 1.37.1-1.1 install reinstreq half-installed",
                                   "package kubectl  unknown ok not-installed"])
    assert removed.packages == {}
