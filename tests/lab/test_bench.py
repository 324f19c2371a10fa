"""lab/bench.py's figures without a lab: the scale floors, the per-operation stamps of a run, the counts."""

from __future__ import annotations

import sys

import pytest

from lab import base, bench, core


def test_operations_stamped_as_pyinfra_prints_them(monkeypatch: pytest.MonkeyPatch) -> None:
    script = ("import time\n"
              "print('--> Loading inventory...', flush=True); time.sleep(0.2)\n"
              "print('--> Starting operation: Prepare | Swap off', flush=True); time.sleep(0.05)\n"
              "print('--> Starting operation: Join | Worker joins', flush=True); time.sleep(0.4)\n"
              "print('    Grand total    1    2    -    3')\n")
    monkeypatch.setattr(bench, "DEPLOY", [sys.executable, "-c", script])
    took, out, steps = bench.timed_deploy()
    assert [name for name, _ in steps] == ["(start, inventory, facts)", "Prepare | Swap off", "Join | Worker joins"]
    durations = dict(steps)
    assert durations["Join | Worker joins"] >= 0.35 and durations["(start, inventory, facts)"] >= 0.15
    assert took >= sum(durations.values()) - 0.01
    assert bench.changes(out) == "Grand total 1 2 - 3"
    monkeypatch.setattr(bench, "DEPLOY", [sys.executable, "-c", "import sys; print('boom'); sys.exit(1)"])
    with pytest.raises(RuntimeError, match="deploy failed"):
        bench.timed_deploy()


def test_ssh_commands_counted_per_host() -> None:
    debug = ("[pyinfra.connectors.ssh] Running command on lab-cp1: (pty=None) sh -c '...'\n"
             "[pyinfra.connectors.ssh] Running command on lab-w1: (pty=None) sh -c '...'\n"
             "[pyinfra.connectors.ssh] Running command on lab-w1: (pty=None) sh -c '...'\n")
    assert bench.commands_per_host(debug) == {"lab-cp1": 1, "lab-w1": 2}


def fake_result(noop: float, add: float = 0.0) -> dict[str, object]:
    return {"up": 1.0, "first": 2.0, "noop": noop, "noop_totals": "Grand total 6 - - 300", "ssh": {"lab-cp1": 1},
            "noop_cached": noop * 0.8, "bare": noop / 2, "idle_cores": 0.5,
            "usage": "instances 10", "add": add, "add_totals": "Grand total 1 40 - 5",
            "add_steps": [("Join | Worker joins", 4.0)], "added": "lab-w51", "after_add": 6.0}


@pytest.mark.parametrize(("small", "big", "add", "code", "verdicts"), [
    (3.0, 5.4, 12.0, 0, ("ratio 1.80 (floor <= 2.0: ok)", "12.0 s (floor < 15 s: ok)")),
    (3.0, 6.3, 12.0, 1, ("ratio 2.10 (floor <= 2.0: NOT MET)", "(floor < 15 s: ok)")),
    (3.0, 5.0, 15.0, 1, ("(floor <= 2.0: ok)", "15.0 s (floor < 15 s: NOT MET)")),
    (1.4, 10.6, 9.5, 1, ("ratio 7.57 (floor <= 2.0: NOT MET)", "9.5 s (floor < 15 s: ok)")),
])
def test_scale_figures_and_floors(small: float, big: float, add: float, code: int, verdicts: tuple[str, str],
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(core, "down", lambda: [])
    monkeypatch.setattr(base, "ensure_base", lambda os_name, force=False: 0.0)
    monkeypatch.setattr(bench, "topology_run", lambda topo, os_name, keep=False: calls.append((topo, keep)) or fake_result(small))
    monkeypatch.setattr(bench, "scale_run", lambda workers, os_name: calls.append(("scale", workers)) or fake_result(big, add))
    assert bench.main(["1+4"], cold=False, scale=50) == code
    assert calls == [("1+4", False), ("3+3", True), ("scale", 50)]  # the 3+3 lab is kept and grown
    out = capsys.readouterr().out
    assert f"no-op re-run 3+3 {small:.1f} s, 3+50 {big:.1f} s" in out
    assert all(v in out for v in verdicts)
    assert "one worker (lab-w51) added to the 3+50 cluster with --limit" in out
    assert "[3+50] SSH commands per host on the no-op re-run: 1 on 1 host(s)" in out
    assert f"with the controller caches (KUBEADM_PYINFRA_SPEED=1): 3+3 {small * 0.8:.1f} s" in out
    bound = big / 2 / (small * 0.8)  # against the fastest 3+3 no-op (here the one with the caches)
    assert f"3+50 {big / 2:.1f} s, that is {bound:.2f} x the fastest 3+3 no-op" in out
    assert ("no deploy that looks at every host can meet it here" in out) == (bound > 2.0)
    assert ("what is left for the deploy's own work at 3+50" in out) == (bound <= 2.0)


def test_a_failed_run_keeps_its_output_and_shows_why(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(bench, "LOG_DIR", tmp_path)
    script = ("import sys\nprint('--> Starting operation: Kubernetes packages | kubelet', flush=True)\n"
              "print('    [lab-w17] Error: executed 1 commands; E: Could not get lock /var/lib/dpkg/lock-frontend')\n"
              "print('x' * 20000)\n"
              "print('    Kubernetes packages | kubelet     53      46        1       6')\nsys.exit(1)\n")
    monkeypatch.setattr(bench, "DEPLOY", [sys.executable, "-c", script])
    with pytest.raises(RuntimeError, match=f"its whole output: {tmp_path}/deploy-"):
        bench.timed_deploy()
    err = capsys.readouterr().err
    assert "[lab-w17] Error: executed 1 commands; E: Could not get lock" in err  # not lost behind 20 kB of output
    (kept,) = tmp_path.glob("deploy-*.log")
    assert "x" * 20000 in kept.read_text()
    assert bench.error_lines("    HAProxy | HAProxy installed      53      -         1       52\n") == []


def test_converge_runs_again_once_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = [RuntimeError("deploy failed"), (5.0, "ok")]

    def deploy(extra: object = None) -> tuple[float, str]:
        result = outcomes.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(bench, "deploy", deploy)
    took, runs = bench.converge()
    assert runs == 2 and took >= 0
    outcomes[:] = [RuntimeError("one"), RuntimeError("two")]
    with pytest.raises(RuntimeError, match="two"):
        bench.converge()


def test_join_trace_reads_the_stand_in_logs_of_the_run(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab import state

    nodes = [state.Node("lab-w9", "10.77.0.30", "workers"), state.Node("lab-cp1", "10.77.0.11", "control_plane")]
    monkeypatch.setattr(bench.config, "NODES_DIR", tmp_path)
    monkeypatch.setattr(bench.state, "load", lambda: state.LabState(control_planes=1, workers=1, nodes=nodes))
    for node, lines in (("lab-w9", ["2026-12-02T10:00:00.100 kubeadm join --config /etc/kubernetes/kubeadm-join.yaml",
                                    "2026-12-02T10:00:01.000 kubeadm: phase preflight",
                                    "2026-12-02T10:00:05.000 kubeadm: phase kubelet-start",
                                    "2026-12-02T10:00:05.500 kubelet: I0000 bootstrap.go] \"Wrote kubeconfig\"",
                                    "2026-12-02T10:00:05.600 kubectl get nodes"]),
                        ("lab-cp1", ["2026-12-02T09:59:00.000 kube-controller-manager: I0000 \"Approved CSR\" old",
                                     "2026-12-02T10:00:05.200 kube-controller-manager: I0000 \"Approved CSR\" csr-1"])):
        log = tmp_path / node / "upper" / bench.STANDIN_LOG
        log.parent.mkdir(parents=True)
        log.write_text("\n".join(lines) + "\n")
    trace = bench.join_trace(["lab-w9", "lab-cp1", "lab-cp2"], "2026-12-02T10:00:00")
    assert [line.split(" ", 2)[1] for line in trace] == ["lab-w9:", "lab-w9:", "lab-w9:", "lab-cp1:", "lab-w9:"]
    assert "phase kubelet-start" in trace[2] and "csr-1" in trace[3] and not any("kubectl" in t for t in trace)


def test_machine_load_is_read_in_cores() -> None:
    import os

    assert 0 < bench.busy_seconds()
    assert 0 <= bench.background_load(0.3) <= (os.cpu_count() or 1) + 0.5


def test_the_no_op_figures_include_the_caches_and_pyinfras_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """noop(): the deploy as is, with KUBEADM_PYINFRA_SPEED=1, and `pyinfra exec -- true`, each the fastest of its runs."""
    seen: list[tuple[list[str], dict[str, str]]] = []

    def fake(extra: object = None, env: dict[str, str] | None = None, argv: list[str] | None = None) -> tuple:
        seen.append((argv or bench.DEPLOY, env or {}))
        took = {0: 3.0, 1: 2.0, 2: 9.9}[len(seen) - 1] if len(seen) <= 3 else 5.0
        return took, "    Grand total  6 - - 300\n", []

    monkeypatch.setattr(bench, "timed_deploy", fake)
    monkeypatch.setattr(bench, "background_load", lambda seconds=5.0: 0.25)
    figures = bench.noop()
    assert figures["noop"] == 2.0 and figures["idle_cores"] == 0.25
    assert figures["noop_cached"] == 5.0 and figures["bare"] == 5.0
    assert [env for _, env in seen] == [{}, {}, {}, {"KUBEADM_PYINFRA_SPEED": "1"}, {"KUBEADM_PYINFRA_SPEED": "1"}, {}, {}]
    assert [argv[-3:] for argv, _ in seen[-2:]] == [["exec", "--", "true"]] * 2
