"""Fast tests of the lab's state, inventory, ssh config, mirror layout and packages (no root, no network)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from deploys import digests
from lab import artifacts, config, debian, procs, sshconf, state
from lab.inventory import NoLabError, groups
from lab.standins import build


def test_parse_topology() -> None:
    assert state.parse_topology("3+3") == (3, 3)
    assert state.parse_topology(" 1 + 4 ") == (1, 4)
    for bad in ("2+2", "3", "a+b", "1+99"):
        with pytest.raises(ValueError):
            state.parse_topology(bad)


def test_plan_puts_control_planes_first() -> None:
    nodes = state.plan(3, 3)
    assert [n.name for n in nodes] == ["lab-cp1", "lab-cp2", "lab-cp3", "lab-w1", "lab-w2", "lab-w3"]
    assert [n.ip for n in nodes] == [f"10.77.0.{i}" for i in range(11, 17)]
    assert {n.role for n in nodes[:3]} == {"control_plane"} and {n.role for n in nodes[3:]} == {"workers"}
    assert nodes[0].netns == "kpl-lab-cp1"


def test_growing_workers_keeps_existing_addresses() -> None:
    before = {n.name: n.ip for n in state.plan(1, 4)}
    after = {n.name: n.ip for n in state.plan(1, 5)}
    assert {k: after[k] for k in before} == before
    assert after["lab-w5"] == "10.77.0.16"


def test_state_round_trip(tmp_path: Path) -> None:
    lab = state.LabState(1, 1, state.plan(1, 1), mirror_pid=42, os="debian13")
    lab.nodes[0].pid = 1234
    path = tmp_path / "state.json"
    state.save(lab, path)
    again = state.load(path)
    assert again == lab
    assert again.node("cp1").pid == 1234 and again.node("10.77.0.12").name == "lab-w1"
    with pytest.raises(KeyError):
        again.node("lab-w9")


def test_missing_state_is_an_empty_lab(tmp_path: Path) -> None:
    assert state.load(tmp_path / "absent.json").nodes == []


def test_state_written_before_the_os_was_recorded_is_debian12(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"control_planes": 1, "workers": 0, "nodes": [], "mirror_pid": null}')
    assert state.load(path).os == "debian12" == config.DEFAULT_OS


def test_parse_os() -> None:
    assert state.parse_os("debian13") == "debian13"
    assert config.OS_SUITES == {"debian12": "bookworm", "debian13": "trixie"}
    with pytest.raises(ValueError, match="debian12 or debian13"):
        state.parse_os("ubuntu24")


def test_inventory_groups_and_vip_only_for_ha() -> None:
    one = groups(state.LabState(1, 2, state.plan(1, 2)))
    assert [h for h, _ in one["control_plane"]] == ["lab-cp1"]
    assert [h for h, _ in one["workers"]] == ["lab-w1", "lab-w2"]
    data = dict(one["workers"])["lab-w2"]
    assert data["node_ip"] == data["ssh_hostname"] == "10.77.0.13"
    assert data["ssh_config_file"] == str(config.SSH_CONFIG) and "vip" not in data
    ha = groups(state.LabState(3, 3, state.plan(3, 3)))
    assert all(d["vip"] == config.VIP for _, d in ha["control_plane"] + ha["workers"])


def test_inventory_without_lab_says_what_to_do() -> None:
    with pytest.raises(NoLabError, match="python -m lab up"):
        groups(state.LabState())


def test_ssh_config_goes_through_the_lab_namespace() -> None:
    text = sshconf.ssh_config_text(state.LabState(1, 1, state.plan(1, 1)))
    assert "Host lab-cp1\n    HostName 10.77.0.11" in text
    assert f"ProxyCommand ip netns exec {config.NET_NS} nc %h %p" in text
    assert "StrictHostKeyChecking yes" in text


def test_paramiko_config_parsing_matches() -> None:
    import paramiko

    cfg = paramiko.SSHConfig.from_text(sshconf.ssh_config_text(state.LabState(1, 1, state.plan(1, 1))))
    found = cfg.lookup("lab-w1")
    assert found["hostname"] == "10.77.0.12" and found["user"] == "root"
    assert found["proxycommand"] == f"ip netns exec {config.NET_NS} nc 10.77.0.12 22"


def test_pid_checks_refuse_foreign_processes() -> None:
    import os

    assert not procs.is_nspawn_of(os.getpid(), "lab-cp1")
    assert not procs.is_nspawn_of(None, "lab-cp1")
    assert not procs.is_mirror(os.getpid(), str(config.REPO_DIR))
    assert procs.cmdline(os.getpid())


def test_served_versions_are_each_minors_newest_and_the_patch_before_the_newest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "newest_patches", lambda: {"1.36": "1.36.4", "1.35": "1.35.10", "1.37": "1.37.3"})
    assert build.served_versions() == ["1.35.10", "1.36.4", "1.37.2", "1.37.3"]
    monkeypatch.setattr(build, "newest_patches", lambda: {"1.37": "1.37.0"})
    assert build.served_versions() == ["1.37.0"]


def test_versions_command_prints_what_the_repositories_serve() -> None:
    res = subprocess.run([sys.executable, "-m", "lab", "versions"], cwd=config.REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    printed = res.stdout.split()
    assert printed == build.served_versions() and len(printed) >= 4
    assert printed == sorted(printed, key=build.version_tuple)


def test_debian_pick_prefers_the_pinned_version_then_its_line() -> None:
    def cand(version: str) -> debian.Candidate:
        return debian.Candidate("containerd", version, "testing")

    versions = [cand("1.6.20~ds1-1+deb12u3"), cand("1.7.24~ds1-6+deb13u1"), cand("2.1.9+ds1-5"), cand("2:1.7.30-1")]
    best = {w: max(versions, key=lambda c: debian.rank(c, w)).upstream for w in ("1.7.24", "1.7.1", "2.3.4", "3.0.0")}
    assert best == {"1.7.24": "1.7.24", "1.7.1": "1.7.30", "2.3.4": "2.1.9", "3.0.0": "2.1.9"}


def test_debian_binary_runs_only_where_its_libraries_are_new_enough() -> None:
    runc = debian.Candidate("runc", "1.3.6+ds1-1", "testing", "libc6 (>= 2.38), libseccomp2 (>= 2.5.0)")
    assert runc.lib_needs() == [("libc6", "2.38"), ("libseccomp2", "2.5.0")]
    bookworm = {"libc6": "2.36-9+deb12u13", "libseccomp2": "2.5.4-1+deb12u1"}
    trixie = {"libc6": "2.41-12", "libseccomp2": "2.6.0-2"}
    assert not debian.runs_on(runc, "bookworm", bookworm)
    assert debian.runs_on(runc, "trixie", trixie)
    assert debian.runs_on(debian.Candidate("runc", "1.1.5+ds1-1+deb12u1", "bookworm", "libc6 (>= 2.38)"), "bookworm", {})


def test_mirror_paths_are_the_deploys_upstream_urls() -> None:
    from deploys.containerd import DEFAULTS

    downloaded = [name for name in artifacts.SPECS if f"{name}_download_url" in DEFAULTS]
    assert downloaded == ["containerd", "runc"]  # the CNI plugins come with kubernetes-cni instead
    for name in downloaded:
        upstream = str(DEFAULTS[f"{name}_download_url"])
        assert upstream.replace("https://github.com", f"{config.MIRROR_URL}/github") == artifacts.url_template(name)
        assert "https://github.com/" + artifacts.release_path(name, "9.8.7", "amd64") == upstream.format(
            version="9.8.7", arch="amd64")


def fake_deb(tmp_path: Path, package: str, files: dict[str, bytes]) -> Path:
    """A .deb holding files (path -> content), built with dpkg-deb."""
    root = tmp_path / f"{package}-tree"
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
        (root / path).chmod(0o755)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(f"Package: {package}\nVersion: 1.0-1\nArchitecture: amd64\n"
                                         "Maintainer: test <t@localhost>\nDescription: test\n")
    return build.dpkg_build(root, tmp_path / f"{package}_1.0-1_amd64.deb")


def test_artifacts_have_upstreams_layout_and_are_reproducible(tmp_path: Path) -> None:
    ctd = fake_deb(tmp_path, "containerd", {f"usr/bin/{b}": b.encode() for b in
                                            ("containerd", "containerd-shim-runc-v2", "ctr")})
    cni = fake_deb(tmp_path, "containernetworking-plugins", {f"usr/lib/cni/{p}": p.encode() for p in
                                                             ("bridge", "host-local", "loopback", "portmap")})
    runc = fake_deb(tmp_path, "runc", {"usr/sbin/runc": b"runc"})
    artifacts.build_containerd(ctd, tmp_path / "a/containerd.tar.gz")
    artifacts.build_containerd(ctd, tmp_path / "b/containerd.tar.gz")
    artifacts.build_cni_plugins(cni, tmp_path / "a/cni.tgz")
    artifacts.build_runc(runc, tmp_path / "a/runc.amd64")
    with tarfile.open(tmp_path / "a/containerd.tar.gz") as tar:
        assert tar.getnames() == ["bin", "bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"]
        assert {m.uname for m in tar.getmembers()} == {"root"} and tar.getmember("bin/ctr").mode == 0o755
    with tarfile.open(tmp_path / "a/cni.tgz") as tar:
        assert tar.getnames() == [".", "./bridge", "./host-local", "./loopback", "./portmap"]
    assert digests.sha256(tmp_path / "a/containerd.tar.gz") == digests.sha256(tmp_path / "b/containerd.tar.gz")
    assert (tmp_path / "a/runc.amd64").read_bytes() == b"runc" and os.access(tmp_path / "a/runc.amd64", os.X_OK)
    assert digests.sha256(tmp_path / "a/runc.amd64") == hashlib.sha256(b"runc").hexdigest()


def test_artifact_sha256_reads_the_served_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab import mirror

    monkeypatch.setattr(config, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(config, "REPO_DIR", tmp_path / "repo")
    monkeypatch.setattr(state, "load", lambda: state.LabState(os="debian13"))
    with pytest.raises(RuntimeError, match="python -m lab up --os debian13"):
        mirror.artifact_sha256("runc")
    served = tmp_path / "repo/github/opencontainers/runc/releases/download/v1.4.3/runc.amd64"
    served.parent.mkdir(parents=True)
    served.write_bytes(b"real runc")
    artifacts.manifest_path("debian13").write_text(
        '{"artifacts": {"runc": {"version": "1.4.3", "path": "github/opencontainers/runc/releases/download/'
        'v1.4.3/runc.amd64", "sha256": "stale"}}}')
    assert mirror.artifact_sha256("runc") == hashlib.sha256(b"real runc").hexdigest()
    assert mirror.artifact_version("runc") == "1.4.3"


def test_standin_packages_declare_upstreams_dependencies_and_ship_every_standin_file(tmp_path: Path) -> None:
    pkgs = {p.name: p for p in build.PACKAGES}
    assert set(pkgs) == {"kubelet", "kubeadm", "kubectl", "cri-tools"}
    assert pkgs["kubelet"].depends[:4] == ("iptables (>= 1.4.21)", "kubernetes-cni (>= 1.2.0)", "mount", "util-linux")
    assert not [d for d in pkgs["kubeadm"].depends if d.startswith(("cri-tools", "kubelet", "kubernetes-cni"))]
    deb = build.build_standin(pkgs["kubelet"], "1.37.1", "1.1", "1.37.1", "1.37.0", "amd64", tmp_path)
    assert deb.name == "kubelet_1.37.1-1.1_amd64.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for src in build.node_files():
        assert f"./usr/lib/k8s-standin/kubelet/{src.name}\n" in listing
    assert "./etc/default/kubelet\n" in listing and "./usr/lib/systemd/system/kubelet.service\n" in listing
    conffiles = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], capture_output=True, text=True).stdout
    assert conffiles.split() == ["/etc/default/kubelet"]
    kubeadm = build.build_standin(pkgs["kubeadm"], "1.37.1", "1.1", "1.37.1", "1.37.0", "amd64", tmp_path)
    tree = tmp_path / "kubeadm-tree"
    subprocess.run(["dpkg-deb", "-x", str(kubeadm), str(tree)], check=True)
    dropin = (tree / "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf").read_text()
    assert "EnvironmentFile=-/etc/default/kubelet" in dropin and "sysconfig" not in dropin
    assert "@KUBE_VERSION@" not in (tree / "usr/lib/k8s-standin/kubeadm/standin.py").read_text()
    assert build.cri_tools_version("1.37") == "1.37.0"


def _unpack(deb: Path, root: Path, mtime: int) -> None:
    """dpkg-deb -x DEB over ROOT (dpkg's upgrade), its files' mtime MTIME (packages built in the same second)."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    for path in (root / build.STANDIN_LIB.lstrip("/")).rglob("*.py"):
        os.utime(path, (mtime, mtime))


def _in_tree(root: Path, script: str) -> Path:
    """A copy of SCRIPT (a wrapper or maintainer script) with the stand-in directory moved under ROOT."""
    copy = root / f"{Path(script).name}.in-tree"
    copy.write_text(Path(script).read_text().replace(build.STANDIN_LIB, f"{root}{build.STANDIN_LIB}"))
    return copy


def _kubeadm_version(root: Path, *command: str) -> str:
    """`kubeadm version -o short` as a node runs it (root's environment: Python writes byte-code caches)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["K8S_STANDIN_LOG"] = str(root / "standin.log")
    res = subprocess.run([*command, "version", "-o", "short"], env=env, capture_output=True, text=True, check=True)
    return res.stdout.strip()


def test_an_upgraded_standin_reports_its_own_version_when_both_were_built_in_one_second(tmp_path: Path) -> None:
    kubeadm = next(p for p in build.PACKAGES if p.name == "kubeadm")
    old = build.build_standin(kubeadm, "1.35.9", "1.1", "1.35.9", "1.35.0", "amd64", tmp_path)
    new = build.build_standin(kubeadm, "1.36.4", "1.1", "1.36.4", "1.36.0", "amd64", tmp_path)
    root, when = tmp_path / "node", 1_790_000_000
    lib = root / build.STANDIN_LIB.lstrip("/") / "kubeadm"
    _unpack(old, root, when)
    assert _kubeadm_version(root, "sh", str(_in_tree(root, f"{root}/usr/bin/kubeadm"))) == "v1.35.9"
    _unpack(new, root, when)
    assert _kubeadm_version(root, "sh", str(_in_tree(root, f"{root}/usr/bin/kubeadm"))) == "v1.36.4"
    assert not (lib / "__pycache__").exists()  # python3 -B: nothing cached
    # A node that ran a package built before the fix (no -B) has 1.35.9's cache; the new postinst removes it.
    _unpack(old, root, when)
    assert _kubeadm_version(root, "/usr/bin/python3", str(lib / "kubeadm.py")) == "v1.35.9"
    assert (lib / "__pycache__").is_dir()
    _unpack(new, root, when)
    assert _kubeadm_version(root, "/usr/bin/python3", str(lib / "kubeadm.py")) == "v1.35.9"  # the stale cache
    info = tmp_path / "info"
    subprocess.run(["dpkg-deb", "-e", str(new), str(info)], check=True)
    subprocess.run(["sh", str(_in_tree(root, str(info / "postinst"))), "configure", "1.35.9-1.1"], check=True)
    assert _kubeadm_version(root, "/usr/bin/python3", str(lib / "kubeadm.py")) == "v1.36.4"


def test_standin_packages_of_every_version_carry_one_mtime(tmp_path: Path) -> None:
    kubeadm = next(p for p in build.PACKAGES if p.name == "kubeadm")
    listings = []
    for version in ("1.35.9", "1.37.1"):
        deb = build.build_standin(kubeadm, version, "1.1", version, "1.35.0", "amd64", tmp_path)
        with tarfile.open(fileobj=io.BytesIO(subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)],
                                                            capture_output=True, check=True).stdout)) as tar:
            listings.append({m.name: m.mtime for m in tar.getmembers()})
    assert listings[0] == listings[1] and set(listings[0].values()) == {build.FILES_MTIME}


def test_kubelet_postinst_keeps_its_service_steps_after_the_cache_cleanup() -> None:
    kubelet = next(p for p in build.PACKAGES if p.name == "kubelet")
    postinst = build.maintainer_scripts(kubelet)["postinst"]
    assert postinst.startswith("#!/bin/sh\nset -e\nrm -rf /usr/lib/k8s-standin/kubelet/__pycache__\n")
    assert postinst.endswith(build.KUBELET_POSTINST.partition("set -e\n")[2])
    assert build.maintainer_scripts(kubelet)["prerm"] == build.KUBELET_PRERM


def test_calico_dir_is_the_shared_copy_beside_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_CALICO_DIR", raising=False)
    monkeypatch.setattr(config, "REPO", tmp_path / "checkout")
    assert config.calico_dir() is None
    (tmp_path / "shared/upstream/calico").mkdir(parents=True)
    assert config.calico_dir() == tmp_path / "shared/upstream/calico"
    monkeypatch.setenv("LAB_CALICO_DIR", str(tmp_path / "elsewhere"))
    assert config.calico_dir() == tmp_path / "elsewhere"


def test_calico_manifests_are_served_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "calico"
    for version in ("v3.30.3", "v3.31.7"):
        (source / version).mkdir(parents=True)
        for name in build.CALICO_FILES:
            (source / version / name).write_bytes(f"# {version} {name}\n".encode() * 100)
    monkeypatch.setenv("LAB_CALICO_DIR", str(source))
    monkeypatch.setattr(config, "REPO_DIR", tmp_path / "repo")
    monkeypatch.setattr(build, "deploy_defaults", lambda: {"calico_version": "v3.31.7", "kube_deb_revision": "1.1"})
    assert build.ensure_calico() == ["v3.30.3", "v3.31.7"]
    for version in ("v3.30.3", "v3.31.7"):
        for name in build.CALICO_FILES:
            assert (tmp_path / "repo/calico" / version / name).read_bytes() == (source / version / name).read_bytes()


def test_etcd_archive_has_upstreams_layout_at_the_deploys_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploys.etcd import DEFAULTS

    upstream = str(DEFAULTS["etcd_download_url"])
    assert upstream.replace("https://github.com", f"{config.MIRROR_URL}/github") == artifacts.url_template("etcd")
    server = fake_deb(tmp_path, "etcd-server", {"usr/bin/etcd": b"etcd", "usr/bin/etcdutl": b"etcdutl"})
    client = fake_deb(tmp_path, "etcd-client", {"usr/bin/etcdctl": b"etcdctl"})
    monkeypatch.setattr(artifacts.debian, "download", lambda candidate: client)
    dest = tmp_path / "etcd-v1.0-linux-amd64.tar.gz"
    artifacts.build_etcd(artifacts.debian.Candidate("etcd-server", "1.0-1", "testing"), server, dest)
    with tarfile.open(dest) as tar:
        top = "etcd-v1.0-linux-amd64"
        assert tar.getnames() == [top, f"{top}/etcd", f"{top}/etcdctl", f"{top}/etcdutl"]
        assert tar.extractfile(f"{top}/etcdutl").read() == b"etcdutl"  # type: ignore[union-attr]

