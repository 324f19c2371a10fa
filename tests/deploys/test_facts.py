"""NodeFacts: one command, parsed into the state every gate reads."""

from __future__ import annotations

import re
from typing import Any

import pytest

from deploys.facts import NodeFacts

OUTPUT = """swap=0
fstab_swap=2
missing_module=br_netfilter
sysctl net.ipv4.ip_forward=1
sysctl net.bridge.bridge-nf-call-iptables=0
package containerd 1.6.20~ds1-1+deb12u3 hold ok installed
package curl 7.88.1-10 install ok installed
unit ActiveState=active
unit UnitFileState=enabled
unit Id=containerd.service
unit 
unit ActiveState=inactive
unit UnitFileState=disabled
unit Id=kubelet.service
unit 
unit ActiveState=inactive
unit UnitFileState=
unit Id=haproxy.service
mode 600 /etc/kubernetes/kubelet.conf
sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709  /etc/kubernetes/kubelet.conf
applied=tigera-operator-v3.30.3
iface=eth0""".splitlines()


def test_parses_every_field() -> None:
    state = NodeFacts().process(OUTPUT)
    assert not state.swap_active and state.fstab_swap
    assert state.missing_modules == ["br_netfilter"]
    assert state.sysctls == {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "0"}
    assert state.packages["containerd"] == ("1.6.20~ds1-1+deb12u3", True)
    assert state.installed("curl") and not state.installed("kubelet")
    assert state.installed("containerd", "1.6.20~ds1-1+deb12u3") and not state.installed("containerd", "1.7.0")
    assert state.enabled == {"containerd": True, "kubelet": False, "haproxy": False}
    assert state.active == {"containerd": True, "kubelet": False, "haproxy": False}
    assert state.files == {"/etc/kubernetes/kubelet.conf": ("600", "da39a3ee5e6b4b0d3255bfef95601890afd80709")}
    assert state.applied == {"tigera-operator-v3.30.3"}
    assert state.node_ip_interface == "eth0" and not state.dpkg_interrupted


def test_one_shell_command_names_the_node_ip() -> None:
    command = NodeFacts().command(node_ip="10.77.0.11")
    assert "ip=10.77.0.11/ " in command and "dpkg-query" in command and "/proc/swaps" in command


def test_runs_in_a_real_shell(tmp_path) -> None:
    """The command is valid sh and prints only lines the parser knows (on this machine)."""
    import subprocess

    result = subprocess.run(["sh", "-c", NodeFacts().command(node_ip="127.0.0.1")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    known = ("swap=", "fstab_swap=", "dpkg_interrupted", "missing_module=", "sysctl ", "package ", "unit", "mode ", "sha1 ", "iface=", "applied=", "arch=", "done=", "stale=", "os=", "cgroup_fs=")
    sha1sum = re.compile(r"[0-9a-f]{40}  /")
    assert all(line.startswith(known) or sha1sum.match(line) for line in result.stdout.splitlines() if line), result.stdout
    state = NodeFacts().process(result.stdout.splitlines())
    assert state.node_ip_interface == "lo"
    # the sysctls as sysctl reads them (a /proc/sys file read byte by byte ends without its newline)
    assert state.sysctls["net.ipv4.ip_forward"] == open("/proc/sys/net/ipv4/ip_forward").read().strip()


def test_every_component_declares_what_it_owns() -> None:
    from deploys import components
    from deploys.facts import Owned

    assert all(isinstance(component.OWNS, Owned) for component in components.COMPONENTS)


def test_the_look_reads_everything_the_components_own() -> None:
    """Every file, package and service a component declares is in the one command, as a word of its list."""
    from deploys import components

    command = NodeFacts().command(node_ip="10.77.0.11")
    files = re.search(r"for f in (.+?); do", command).group(1).split()
    packages = re.search(r"dpkg-query -W -f='[^']*' (.+?) 2>", command).group(1).split()
    services = re.search(r"systemctl show -p Id,ActiveState,UnitFileState (.+?) 2>", command).group(1).split()
    for component in components.COMPONENTS:
        owns = component.OWNS
        assert set(owns.files) <= set(files), component.__name__
        assert set(owns.packages) <= set(packages), component.__name__
        assert set(owns.services) <= set(services), component.__name__
    assert "/etc/haproxy/haproxy.cfg" in files and "haproxy" in packages and "keepalived" in services


@pytest.mark.parametrize("shape", ["prod_plan", "test_plan"])
def test_everything_a_run_writes_installs_or_starts_is_owned(shape: str, request: pytest.FixtureRequest) -> None:
    """What the deploy changes on a node, a component owns: the look then sees it on the next run."""
    import fnmatch

    from deploys.facts import owned
    from tests import plan

    p: plan.Plan = request.getfixturevalue(shape)
    mine = owned()
    for host in p.state.inventory:
        name = host.name.split("/", 1)[1]
        for path in plan.uploads(p, name):
            if path == "/etc/kubernetes/kubeadm-join.yaml":  # holds the token: removed after the join
                continue
            assert any(fnmatch.fnmatchcase(path, pattern) for pattern in mine.files), (name, path)
        text = "\n".join(p.commands(name))
        for path in re.findall(r"&& mv \S+[.]part (\S+)", text):  # downloads (artifacts: their stamp says)
            assert path.startswith("/var/cache/kubeadm-pyinfra/") or any(fnmatch.fnmatchcase(path, pattern) for pattern in mine.files), (name, path)
        for spec in re.findall(r"--force-confold (.+)$", text, re.M):
            assert all(word.split("=")[0] in mine.packages for word in spec.split()), (name, spec)
        for unit in re.findall(r"systemctl (?:enable|start|restart) (\S+)", text):
            assert unit in mine.services, (name, unit)


def test_a_malformed_owned_path_is_refused() -> None:
    from deploys.facts import Owned

    with pytest.raises(ValueError):
        Owned(files=("/etc/x; rm -rf /",))
    with pytest.raises(ValueError):
        Owned(packages=("Bad Name",))


def test_sha1sum_lines_are_read_as_they_are_printed() -> None:
    state = NodeFacts().process(["mode 640 /etc/kubernetes/admin.conf", "1" * 40 + "  /etc/kubernetes/admin.conf",
                                 "2" * 40 + "  /etc/kubernetes/kubelet.conf", "stale=/etc/kubernetes/admin.conf"])
    assert state.files == {"/etc/kubernetes/admin.conf": ("640", "1" * 40), "/etc/kubernetes/kubelet.conf": ("?", "2" * 40)}
    assert state.stale == {"/etc/kubernetes/admin.conf"}


def test_the_look_spawns_few_processes(tmp_path) -> None:
    """Built-ins read swap, dpkg's updates, sysctls and the stamps: the look forks at most 20 processes here."""
    import shutil
    import subprocess

    if not shutil.which("strace"):
        pytest.skip("needs strace")
    log = tmp_path / "trace"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(log), "sh", "-c",
                    NodeFacts().command(node_ip="127.0.0.1")], capture_output=True, check=True)
    execs = [line for line in log.read_text().splitlines() if "execve(" in line and "ENOENT" not in line]
    assert len(execs) <= 20, "\n".join(execs)


def test_a_look_asked_twice_at_once_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosts are planned side by side: another host's planning asking for this host's look while it is read
    waits for it (one SSH command per host in a no-op, not two)."""
    from types import SimpleNamespace

    import gevent

    from deploys import context, facts

    calls: list[str] = []

    class State:
        pass

    class Host:
        name, state = "n1", State()

        def get_fact(self, cls: Any, node_ip: str) -> facts.NodeState:
            calls.append(node_ip)
            gevent.sleep(0.05)  # the command on the wire
            return facts.NodeState()

    node = SimpleNamespace(node_ip="10.0.0.1")
    monkeypatch.setattr(context, "cluster", lambda state: SimpleNamespace(node=lambda name: node))
    host = Host()
    first, second = gevent.spawn(facts.node_state, host), gevent.spawn(facts.node_state, host)
    gevent.joinall([first, second])
    assert calls == ["10.0.0.1"] and first.value is second.value
