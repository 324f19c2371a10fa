"""Our Ansible inventory reader agrees with the real `ansible-inventory`, and rejects what Ansible rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop import ansible_inventory
from interop.report import KubesprayError
from tests.interop.helpers import FIXTURES, ansible_list, write_tree

TRICKY_INI = {
    "hosts": """\
# hosts before any section are ungrouped
lonely ansible_host=10.9.9.9
[web]
web[01:03] ansible_port=2222 role='front end'   # range, int, quoted value with a space
db-[a:b]:2200 tags="['x', 'y']" enabled=True
; a semicolon comment

[web:vars]
colour=blue
size = 10

[all:vars]
colour=red
shared=from-all

[parent:children]
web

[parent:vars]
colour=green
depth_marker=parent
""",
    "group_vars/all.yml": "shared: from-group-vars-all\ncolour: yellow\n",
    "group_vars/parent/one.yml": "depth_marker: parent-file\n",
    "group_vars/web": "size: 20\n",
    "host_vars/web02.yaml": "size: 30\n",
}

TRICKY_YAML = {
    "inventory.yml": """\
all:
  vars: {colour: red}
  hosts:
    a: {ansible_host: 10.0.0.1}
  children:
    one:
      hosts:
        a: {x: 1}
        b[1:2]: {x: 2}
      children:
        two:
          hosts:
            a: {y: 3}
          vars: {colour: blue}
three:
  hosts:
    c:
  vars: {colour: green}
""",
    "group_vars/two/main.yaml": "from_file: two\n",
}


def _compare(path: Path, workdir: Path) -> None:
    """Hosts, groups (own hosts, children) and every host's variables: ours == Ansible's."""
    listing = ansible_list(path, workdir)
    ours = ansible_inventory.load(path)
    hostvars = listing["_meta"]["hostvars"]
    assert sorted(ours.hosts) == sorted(hostvars) or not hostvars
    for host in ours.hosts:
        assert ours.variables(host) == hostvars.get(host, {}), host
    for group, body in listing.items():
        if group == "_meta":
            continue
        assert sorted(body.get("children", [])) == sorted(ours.groups[group].children), group
        if group != "all":
            assert sorted(body.get("hosts", [])) == sorted(ours.groups[group].hosts), group
    listed = {g for g in listing if g != "_meta"}
    assert listed <= set(ours.groups)
    assert not [g for g in set(ours.groups) - listed if ours.members(g)]  # Ansible lists no empty group


@pytest.mark.parametrize(
    "fixture", ["task1", "ha-yaml", "legacy/hosts.ini", "terraform-aws", "production", "sample", "homework"]
)
def test_fixtures_read_as_ansible_reads_them(fixture: str, tmp_path: Path) -> None:
    _compare(FIXTURES / fixture, tmp_path)


def test_tricky_ini_reads_as_ansible_reads_it(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "inv", TRICKY_INI)
    _compare(root / "hosts", tmp_path)
    ours = ansible_inventory.load(root / "hosts")
    assert ours.members("web") == ["web01", "web02", "web03", "db-a", "db-b"]
    assert ours.variables("db-a")["ansible_port"] == 2200
    assert ours.variables("web01")["role"] == "front end"
    assert ours.variables("web02")["size"] == 30  # host_vars/ beats group_vars/ beats [web:vars]
    assert ours.variables("web01")["size"] == 20
    assert ours.variables("web01")["colour"] == "yellow"  # group_vars/all beats every inventory-file group var
    assert ours.variables("lonely")["colour"] == "yellow"  # group_vars/all beats [all:vars]
    assert ours.groups["ungrouped"].hosts == ["lonely"]


def test_tricky_yaml_reads_as_ansible_reads_it(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "inv", TRICKY_YAML)
    _compare(root, tmp_path)
    ours = ansible_inventory.load(root)
    assert ours.variables("a") == {"colour": "blue", "ansible_host": "10.0.0.1", "x": 1, "y": 3, "from_file": "two"}
    assert ours.members("one") == ["a", "b1", "b2"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"hosts": "[web:things]\na\n"}, "unknown type 'things'"),
        ({"hosts": "[k8s_cluster:children]\nkube_node\n"}, "names group 'kube_node', which is never declared"),
        ({"hosts": "[web:vars]\na=1\n"}, "never declared"),
        ({"hosts": "[web]\nnode1 ansible_host\n"}, "expected key=value"),
        ({"hosts": "[web]\nnode[1:]\n"}, "host range"),
        ({"hosts": "[web servers]\n"}, "hosts:1: invalid section"),
        ({"hosts.yaml": "all:\n  groups: {}\n"}, "unexpected key(s) 'groups'"),
        ({"hosts.yaml": "all:\n  hosts: [a, b]\n"}, "'hosts' must be a mapping"),
        ({"hosts.yaml": "all: [\n"}, "not valid YAML"),
    ],
)
def test_malformed_files_are_rejected_with_the_place(tmp_path: Path, files: dict[str, str], message: str) -> None:
    root = write_tree(tmp_path, files)
    with pytest.raises(KubesprayError, match=None) as caught:
        ansible_inventory.load(root / next(iter(files)))
    assert message in str(caught.value)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(KubesprayError, match="no such inventory"):
        ansible_inventory.load(tmp_path / "nope.ini")
    (tmp_path / "empty" / "group_vars").mkdir(parents=True)
    with pytest.raises(KubesprayError, match="no inventory file"):
        ansible_inventory.load(tmp_path / "empty")


def test_vault_values_and_files_are_flagged_not_read(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "hosts": "[web]\na\n",
            "group_vars/web/secret.yml": "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
            "group_vars/web/vars.yml": (
                "token: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\nplain: !unsafe '{{ x }}'\n"
            ),
        },
    )
    ours = ansible_inventory.load(root / "hosts")
    assert isinstance(ours.variables("a")["token"], ansible_inventory.Vaulted)
    assert ours.variables("a")["plain"] == "{{ x }}"
    assert ours.skipped_files == [root / "group_vars/web/secret.yml"]
