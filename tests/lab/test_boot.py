"""A node is "running" only when its sshd answers; a node that did not boot is reported with its console's reason.

Host-free: fake console logs, nspawn checks and sshd probes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab import config, core, nodes, procs, state

# What a node's console shows when root's inotify instances are used up (systemd's own messages).
EXHAUSTED = """\
systemd 252.39-1~deb12u1 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR +IMA +SMACK +SECCOMP)
Detected virtualization systemd-nspawn.
Failed to allocate manager object: Too many open files
[!!!!!!] Failed to allocate manager object.
Exiting PID 1...
"""
FINE = """\
systemd 252.39-1~deb12u1 running in system mode
[  OK  ] Started ssh.service - OpenBSD Secure Shell server.
[  OK  ] Reached target multi-user.target - Multi-User System.
"""
NO_SSHD = """\
[  OK  ] Reached target network.target - Network.
[FAILED] Failed to start ssh.service - OpenBSD Secure Shell server.
See 'systemctl status ssh.service' for details.
[  OK  ] Reached target multi-user.target - Multi-User System.
"""


@pytest.fixture()
def lab_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(config, "NODES_DIR", tmp_path / "nodes")
    monkeypatch.setattr(config, "BOOT_LOGS", tmp_path / "boot-logs")
    return tmp_path


def console(node: state.Node, *boots: str) -> Path:
    path = nodes.console_path(node)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"\n{nodes.BOOT_MARK}{node.name} at 2026-12-02T01:00:0{i} ===\n{text}"
                            for i, text in enumerate(boots)))
    return path


def test_reason_is_the_last_boots_failures(lab_dirs: Path) -> None:
    node = state.plan(1, 0)[0]
    path = console(node, EXHAUSTED, NO_SSHD)
    assert nodes.boot_log(path)[0] == "[  OK  ] Reached target network.target - Network."
    reason = nodes.boot_reason(path)
    assert reason == "[FAILED] Failed to start ssh.service - OpenBSD Secure Shell server."
    console(node, FINE, EXHAUSTED)
    assert nodes.boot_reason(path).splitlines() == [
        "Failed to allocate manager object: Too many open files", "[!!!!!!] Failed to allocate manager object."]
    assert nodes.boot_reason(path, tail=1) == "[!!!!!!] Failed to allocate manager object."


def test_reason_without_failure_lines_is_the_console_tail(lab_dirs: Path) -> None:
    node = state.plan(1, 0)[0]
    path = console(node, FINE)
    assert nodes.boot_reason(path, tail=2).splitlines() == FINE.splitlines()[-2:]
    path.write_text("")
    assert "nothing on its console" in nodes.boot_reason(path)
    assert "nothing on its console" in nodes.boot_reason(lab_dirs / "absent.log")


def test_nspawn_exiting_during_boot_fails_at_once_with_the_console(lab_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = state.plan(1, 0)[0]
    node.pid = 4242
    console(node, EXHAUSTED)
    monkeypatch.setattr(procs, "is_nspawn_of", lambda pid, name: False)
    monkeypatch.setattr(nodes, "ssh", lambda *a, **k: pytest.fail("no ssh to a node whose nspawn is gone"))
    with pytest.raises(nodes.NodeBootError, match="(?s)nspawn exited during boot.*Too many open files"):
        nodes.wait_ready(node, timeout=5)


def test_sshd_never_answering_is_a_failure_not_running(lab_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = state.plan(1, 0)[0]
    console(node, NO_SSHD)
    monkeypatch.setattr(procs, "is_nspawn_of", lambda pid, name: True)
    refused = subprocess.CompletedProcess([], 255, "", "ssh: connect to host 10.77.0.11 port 22: Connection refused")
    monkeypatch.setattr(nodes, "ssh", lambda *a, **k: refused)
    monkeypatch.setattr(nodes.time, "sleep", lambda s: None)
    with pytest.raises(nodes.NodeBootError) as failed:
        nodes.wait_ready(node, timeout=0.2)
    text = str(failed.value)
    assert "sshd did not answer" in text and "Connection refused" in text
    assert "[FAILED] Failed to start ssh.service" in text


def test_up_reports_each_failed_node_with_its_reason_and_keeps_its_log(
        lab_dirs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = state.plan(1, 1)
    console(good, FINE)
    console(bad, NO_SSHD)

    def wait(node: state.Node, timeout: float = 180) -> str:
        if node is bad:
            raise nodes.NodeBootError(f"{bad.name}: sshd did not answer; its console:\n{nodes.boot_reason(nodes.console_path(bad))}")
        return "running"

    monkeypatch.setattr(nodes, "wait_ready", wait)
    assert core.boot_all([good, bad]) == ["lab-w1"]
    err = capsys.readouterr().err
    assert "lab-cp1 10.77.0.11 control_plane: running" in err
    assert "lab-w1 10.77.0.12 workers: FAILED to boot: lab-w1: sshd did not answer" in err
    assert "[FAILED] Failed to start ssh.service" in err
    kept = lab_dirs / "boot-logs/lab-w1.log"
    assert f"(console log: {kept})" in err and kept.read_text() == nodes.console_path(bad).read_text()


def test_status_says_running_only_when_sshd_answers(lab_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = state.LabState(1, 2, state.plan(1, 2))
    cp, w1, w2 = lab.nodes
    for node, pid in zip(lab.nodes, (11, 12, None)):
        node.pid = pid
    console(w1, NO_SSHD)
    monkeypatch.setattr(procs, "is_nspawn_of", lambda pid, name: pid is not None)
    probed: list[list[str]] = []

    def banners(ips: list[str], timeout: float = 3) -> dict[str, str]:
        probed.append(ips)
        return {cp.ip: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7", w1.ip: "error: Connection refused"}

    monkeypatch.setattr(nodes, "sshd_banners", banners)
    states = core.node_states(lab)
    assert probed == [[cp.ip, w1.ip]]  # one probe for every live node; none for a stopped one
    assert states[cp.name] == "running" and states[w2.name] == "stopped"
    assert states[w1.name] == ("not answering on ssh (error: Connection refused); console: "
                               "[FAILED] Failed to start ssh.service - OpenBSD Secure Shell server.")
    monkeypatch.setattr(state, "load", lambda: lab)
    lines = core.status_lines()
    assert lines[2].split() == ["lab-cp1", "10.77.0.11", "control_plane", "running"]
    assert "running" not in lines[3] and lines[4].endswith("stopped")


def test_sshd_answers_only_with_an_ssh_banner() -> None:
    assert nodes.sshd_answers("SSH-2.0-OpenSSH_9.2p1")
    assert not nodes.sshd_answers("") and not nodes.sshd_answers("error: timed out")
    assert nodes.sshd_banners([]) == {}


def test_the_banner_probe_reads_port_22(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe script run inside the lab namespace: an address that answers, one that refuses."""
    import socket
    import sys
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(b"SSH-2.0-Test\r\n")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    script = nodes.PROBE.replace("(ip, 22)", f"(ip, {port})")
    monkeypatch.setattr(nodes, "PROBE", script)
    monkeypatch.setattr(nodes, "in_labns", lambda cmd: list(cmd))
    assert nodes.sshd_banners(["127.0.0.1"]) == {"127.0.0.1": "SSH-2.0-Test"}
    server.close()
    assert nodes.sshd_banners(["127.0.0.1"], timeout=1)["127.0.0.1"].startswith("error: ")
    assert sys.executable


def test_nspawn_gone_before_its_network_is_wired_is_reported_with_the_console(
        lab_dirs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The 22nd node of a lab out of inotify instances: nspawn exits before `attach` finds its systemd."""
    good, bad = state.plan(1, 1)
    console(bad, EXHAUSTED)

    def attach(node: state.Node) -> None:
        if node is bad:
            raise RuntimeError("systemd-nspawn 4242 exited during boot")

    monkeypatch.setattr(nodes, "attach", attach)
    assert core.attach_all([good, bad]) == ["lab-w1"]
    err = capsys.readouterr().err
    assert "lab-w1 10.77.0.12 workers: FAILED to boot: systemd-nspawn 4242 exited during boot; its console:" in err
    assert "Failed to allocate manager object: Too many open files" in err
    assert (lab_dirs / "boot-logs/lab-w1.log").exists()
