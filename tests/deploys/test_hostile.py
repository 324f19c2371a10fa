"""Hostile values for every string key: refused by the model, or proven harmless.

For each key, hypothesis inserts hostile fragments (newlines, quotes, $(), backticks, ';',
'../', braces, Unicode look-alikes and separators, very long runs) into a benign value, or
generates arbitrary text. The model either refuses the value, naming the key, or accepts it;
an accepted value is planned on an HA cluster beside the benign one and must change nothing
but the words and fields that hold it: every command parses (shlex) into as many words,
every TOML and YAML file into the same structure, and HAProxy and keepalived accept theirs.
"""

from __future__ import annotations

import atexit
import re
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploys import components, model
from tests import plan
from tests.deploys.test_keepalived import isolated_config_test

MARKER = "kplbenign"
TMP = Path(tempfile.mkdtemp(prefix="kpl-hostile-"))
atexit.register(shutil.rmtree, TMP, True)
# A benign value for every key that takes a string; MARKER marks where the value sits.
BENIGN: dict[str, Any] = {
    "cluster_name": MARKER,
    "kube_version": "1.37.1",
    "kube_deb_revision": f"1.1{MARKER}",
    "pod_cidr": "10.244.0.0/16",
    "service_cidr": "10.96.0.0/12",
    "dns_domain": f"{MARKER}.local",
    "image_repository": f"{MARKER}.example:5000/k8s",
    "vip": "10.2.0.100",
    "control_plane_endpoint": f"{MARKER}.example:16443",
    "api_load_balancer": "keepalived",
    "node_network": "10.2.0.0/24",
    "kubeconfig_path": f"{TMP}/{MARKER}/admin.conf",
    "secrets_dir": f"{TMP}/{MARKER}/secrets",
    "apiserver_cert_sans": [f"{MARKER}.example"],
    "node_ip": "10.2.0.10",
    "node_name": f"{MARKER}0",
    "keepalived_interface": f"{MARKER}0",
    "containerd_version": "2.3.4",
    "containerd_download_url": f"https://{MARKER}.example/c/v{{version}}/containerd-{{version}}-linux-{{arch}}.tar.gz",
    "containerd_sha256": "a" * 64,
    "runc_version": "1.4.3",
    "runc_download_url": f"https://{MARKER}.example/r/v{{version}}/runc.{{arch}}",
    "runc_sha256": "b" * 64,
    "registry_mirror": f"https://{MARKER}.example/v2/{{registry}}",
    "kube_apt_repo_url": f"https://{MARKER}.example/k8s/v{{minor}}/deb/",
    "kube_apt_key_url": f"https://{MARKER}.example/k8s/v{{minor}}/Release.key",
    "haproxy_stats_bind": "loopback",
    "calico_version": "v3.31.7",
    "calico_encapsulation": "VXLAN",
    "calico_operator_manifest_url": f"https://{MARKER}.example/calico/{{version}}/tigera-operator.yaml",
    "calico_crds_manifest_url": f"https://{MARKER}.example/calico/{{version}}/operator-crds.yaml",
    "calico_registry": f"{MARKER}.example:5000/calico",
    "calico_interface": f"^{MARKER}[0-9]+$",
    "confirm_reset": MARKER,
    "remove": f"w1,{MARKER}",
    "etcd_version": "3.6.6",
    "etcd_download_url": f"https://{MARKER}.example/e/v{{version}}/etcd-v{{version}}-linux-{{arch}}.tar.gz",
    "etcd_sha256": "c" * 64,
    "backup_dir": f"{TMP}/{MARKER}/backups",
    "snapshot": f"{TMP}/{MARKER}/backups/20261202T000000Z",
    "confirm_restore": MARKER,
}
FRAGMENTS = [
    "\n", "\r\n", "\x00", "\t", " ", '"', "'", "\\", "$(touch /tmp/kpl-pwned)", "`id`", "${IFS}", ";", "; rm -rf /",
    "&&", "|", ">", "<", "#", "!", "*", "?", "[", "]", "{", "}", "{version.__class__}", "{0}", "../", "../../etc",
    "~", "%0a", "&", "=", "+", ",", "@", ":", "é", "\u202e", "\u2028", "\x85", "ｖ", "١", "\ufeff", "x" * 5000,
]
HOST_KEYS = set(model.HOST_KEYS)


def string_keys() -> list[str]:
    """Every key whose type takes a string (or a list of strings)."""
    return [name for name, key in components.schema().items() if isinstance(BENIGN.get(name), (str, list)) or _takes_str(key)]


def _takes_str(key: Any) -> bool:
    return isinstance(key.default, str) or (key.default is None and not key.type.valid(0))


def test_every_string_key_has_a_benign_value() -> None:
    assert set(string_keys()) <= set(BENIGN), sorted(set(string_keys()) - set(BENIGN))
    for name in string_keys():
        assert components.schema()[name].type.problem(BENIGN[name]) is None, name


def hostile(benign: str) -> st.SearchStrategy[str]:
    """BENIGN with a hostile fragment around its marker or at an end, or arbitrary text."""
    def insert(fragment: str, where: str) -> str:
        if MARKER in benign and where in ("before", "after"):
            return benign.replace(MARKER, fragment + MARKER if where == "before" else MARKER + fragment, 1)
        return fragment + benign if where == "start" else benign + fragment

    fragments = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=3).map("".join)
    return st.one_of(
        st.builds(insert, fragments, st.sampled_from(["before", "after", "start", "end"])),
        st.text(max_size=80).map(lambda text: benign.replace(MARKER, MARKER + text, 1) if MARKER in benign else text),
        st.text(max_size=40),
    )


def inventory(key: str, value: Any) -> Any:
    """An HA cluster (3 control planes) with KEY = VALUE (on the first control plane, for a per-host key)."""
    cps = [(f"cp{i}", {"node_ip": f"10.2.0.{10 + i}"}) for i in range(3)]
    data: dict[str, Any] = {
        "vip": "10.2.0.100",
        "secrets_dir": f"{TMP}/secrets",
        "kubeconfig_path": f"{TMP}/kube/admin.conf",
    }
    if key in HOST_KEYS:
        cps[0][1][key] = value
    else:
        data[key] = value
    return plan.fake_inventory(cps, [], data)


@lru_cache(maxsize=None)
def benign_plan(key: str) -> plan.Plan:
    value = BENIGN[key]
    return plan.run(inventory(key, list(value) if isinstance(value, list) else value))


def words(command: str) -> list[str]:
    return shlex.split(command)


def shape(obj: Any) -> Any:
    """A document's structure: keys (those holding the value made generic), list lengths, scalar types."""
    if isinstance(obj, dict):
        return sorted((("<value>" if MARKER in str(k) else str(k)), shape(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [shape(item) for item in obj]
    return type(obj).__name__


def shell_commands(p: plan.Plan, host: str) -> list[str]:
    """Every shell command the deploy's operations ran on HOST, unmasked.

    (The one-look fact command holds only the node IP, and lists the paths watched so far in
    this process, which grows as other tests plan other features.)
    """
    from pyinfra.api import StringCommand

    found: list[str] = []
    inventory_host = p.state.inventory.get_host(f"@fake/{host}")
    for op_hash in p.state.get_op_order():
        data = p.state.ops[inventory_host].get(op_hash)
        for command in (data.operation_meta._commands or []) if data else []:
            if isinstance(command, StringCommand):
                found.append(command.get_raw_value())
    return found


def digestless(word: str) -> str:
    """WORD without hex digests (stamps named after a rendered file's hash change with its content)."""
    return re.sub(r"[0-9a-f]{12,}", "<digest>", word)


def same_folder(before: str, after: str) -> bool:
    """Two paths in the same folder (a download's cache file is named after the URL's last segment)."""
    return "/" in before and before.rsplit("/", 1)[0] == after.rsplit("/", 1)[0]


def assert_commands_alike(benign: plan.Plan, planned: plan.Plan) -> None:
    """Per host, the same commands word for word, but for words that hold the value."""
    for host in benign.calls:
        ours, theirs = shell_commands(benign, host), shell_commands(planned, host)
        assert len(ours) == len(theirs), host
        for before, after in zip(ours, theirs):
            split_before, split_after = words(before), words(after)
            assert len(split_before) == len(split_after), (before, after)
            for b, a in zip(split_before, split_after):
                assert b == a or MARKER in b + a or digestless(b) == digestless(a) or same_folder(b, a), (b, a)


def assert_files_alike(benign: plan.Plan, planned: plan.Plan, tmp: Path) -> None:
    """Per host, the same files; TOML and YAML of the same structure; HAProxy and keepalived accept theirs."""
    for host in benign.calls:
        ours, theirs = plan.uploads(benign, host), plan.uploads(planned, host)
        assert set(ours) == set(theirs), host
        for path, data in theirs.items():
            text = data.decode()
            if data == ours[path]:
                continue
            if path.endswith(".toml"):
                assert shape(tomllib.loads(text)) == shape(tomllib.loads(ours[path].decode())), path
            elif path.endswith((".yaml", ".yml")):
                assert shape(list(yaml.safe_load_all(text))) == shape(list(yaml.safe_load_all(ours[path].decode()))), path
            elif path == "/etc/haproxy/haproxy.cfg" and shutil.which("haproxy"):
                (tmp / "haproxy.cfg").write_text(text)
                checked = subprocess.run(["haproxy", "-c", "-f", str(tmp / "haproxy.cfg")], capture_output=True,
                                         text=True, env={"HAPROXY_STATS_PASSWORD": "x"})
                assert checked.returncode == 0, checked.stdout + checked.stderr
            elif path == "/etc/keepalived/keepalived.conf" and shutil.which("keepalived"):
                (tmp / "auth.conf").write_text("auth_type PASS\nauth_pass abcdefgh\n")
                (tmp / "keepalived.conf").write_text(text.replace("/etc/keepalived/vrrp-auth.conf", str(tmp / "auth.conf")))
                interfaces = set(re.findall(r"(?:interface|dev) (\S+)", text))
                checked = isolated_config_test(tmp / "keepalived.conf", interfaces)
                assert checked.returncode == 0, checked.stdout + checked.stderr
            else:  # plain text: as many lines, each with as many fields
                assert [len(line.split()) for line in text.splitlines()] == [
                    len(line.split()) for line in ours[path].decode().splitlines()
                ], path


def check(key: str, value: Any) -> None:
    """VALUE for KEY is refused (naming the key) or planned harmlessly."""
    try:
        cluster = model.build(inventory(key, value), components.defaults(), write_secrets=False)
    except model.ClusterConfigError as exc:
        assert f"'{key}'" in str(exc) or key == "node_ip", str(exc)
        return
    if key in ("secrets_dir", "kubeconfig_path"):  # local paths: used by Python only, never by a shell
        assert Path(getattr(cluster, key)).resolve().is_relative_to(TMP.resolve())
    planned = plan.run(inventory(key, value))
    benign = benign_plan(key)
    assert_commands_alike(benign, planned)
    with tempfile.TemporaryDirectory() as tmp:
        assert_files_alike(benign, planned, Path(tmp))


HYPOTHESIS = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)


@pytest.mark.parametrize("key", [k for k in BENIGN if not isinstance(BENIGN[k], list)])
@HYPOTHESIS
@given(data=st.data())
def test_hostile_string_values(key: str, data: st.DataObject) -> None:
    check(key, data.draw(hostile(BENIGN[key]), label=key))


@HYPOTHESIS
@given(value=hostile(BENIGN["apiserver_cert_sans"][0]))
def test_hostile_certificate_names(value: str) -> None:
    check("apiserver_cert_sans", [value])


ODD_BUT_VALID = [  # accepted by their grammar, full of characters a shell or a parser would take
    ("kube_apt_repo_url", f"https://{MARKER}.example/a&b=c+d,e@f~g%20h/v{{minor}}/deb/"),
    ("containerd_download_url", f"https://{MARKER}.example/x&y=z/v{{version}}/c&d-{{arch}}.tar.gz?a=b&c=d"),
    ("calico_interface", f"^({MARKER}|eth[0-9]*)$|^b?o[n]d{{1,2}}$"),
    ("kube_deb_revision", f"1.1+{MARKER}~rc1"),
    ("secrets_dir", f"{TMP}/{MARKER} $(touch x) `id`; 'q\"/secrets"),
    ("kubeconfig_path", f"{TMP}/{MARKER} é\u00e9 &/admin.conf"),
    ("registry_mirror", f"https://{MARKER}.example:5000/a&b/{{registry}}?x=y"),
    ("apiserver_cert_sans", [f"*.{MARKER}.example"]),
]


# ids name the key only: the values hold a temporary path, and pytest-xdist's workers must collect the same ids
@pytest.mark.parametrize(("key", "value"), ODD_BUT_VALID, ids=[key for key, _ in ODD_BUT_VALID])
def test_odd_but_valid_values_are_harmless(key: str, value: Any) -> None:
    assert components.schema()[key].type.problem(value) is None
    check(key, value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kube_version", "1.37.1; rm -rf /"),
        ("kube_version", "1.37.1\n"),
        ("keepalived_interface", "eth0\n    virtual_ipaddress { 1.2.3.4 }"),
        ("image_repository", 'registry.k8s.io"\nfoo: bar'),
        ("dns_domain", "cluster.local\nkind: Pod"),
        ("cluster_name", "../../etc"),
        ("calico_registry", "quay.io/\n  flexVolumePath: /"),
    ("calico_interface", 'eth0"\n  kubernetes: x'),
    ("kube_apt_repo_url", "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/ /\ndeb http://evil/ /"),
    ("containerd_download_url", "https://x/{version.__class__.__mro__}"),
    ("registry_mirror", 'https://m/"]\n[host."https://evil'),
        ("node_name", "cp0; reboot"),
        ("kube_version", "١.٣٧.١"),
    ],
)
def test_injections_from_the_issue_are_refused(key: str, value: Any) -> None:
    with pytest.raises(model.ClusterConfigError, match=re.escape(f"'{key}' = ")):
        model.build(inventory(key, value), components.defaults(), write_secrets=False)


@pytest.mark.parametrize("value", ["eth0\n    virtual_ipaddress", "x\r", "a\u2028b", "a\x85b", "a\x00"])
def test_templates_render_no_line_break_whatever_they_are_given(prod_plan: plan.Plan, value: str) -> None:
    """The last line of defence: a value that escaped the model still cannot add a line to a file."""
    from deploys.templates import TemplateValueError, render

    cluster, node = prod_plan.cluster, prod_plan.cluster.control_planes[0]
    arguments = {"cluster": cluster, "node": node, "priority": 250, "prefix": 24, "auth_file": "/a"}
    assert "interface eth0\n" in render("keepalived/keepalived.conf.j2", interface="eth0", **arguments)
    with pytest.raises(TemplateValueError):
        render("keepalived/keepalived.conf.j2", interface=value, **arguments)
