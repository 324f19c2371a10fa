"""Read an Ansible inventory (INI or YAML) with its group_vars/ and host_vars/, without Ansible.

Follows Ansible's rules where kubespray inventories rely on them: `[group]`,
`[group:children]` and `[group:vars]` sections, `host key=value` lines (values
read as Python literals when they are one), host ranges (`node[1:3]`), YAML
`all.hosts` / `children` / `vars`, the implicit `all` and `ungrouped` groups, and
variable precedence (inventory group vars < group_vars/all < group_vars/<group>
by depth < inventory host vars < host_vars/<host>). Templates are not evaluated
here.
"""

from __future__ import annotations

import ast
import re
import shlex
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interop.report import KubesprayError

INI_SUFFIXES = (".ini", ".cfg")
YAML_SUFFIXES = (".yaml", ".yml", ".json")
VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_RANGE = re.compile(r"\[[^\]]*:[^\]]*\]")


class Vaulted:
    """A value encrypted with ansible-vault (`!vault`): present, but unreadable here."""

    def __repr__(self) -> str:
        return "<vault-encrypted>"


@dataclass
class Group:
    """One inventory group: its own hosts, child groups and inventory-file variables."""

    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnsibleInventory:
    """Hosts, groups and variables as Ansible would see them before any play runs."""

    sources: list[Path]
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # inline host vars
    groups: dict[str, Group] = field(default_factory=dict)
    group_vars: dict[str, dict[str, Any]] = field(default_factory=dict)  # group_vars/ files
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)  # host_vars/ files
    vars_dirs: list[Path] = field(default_factory=list)
    skipped_files: list[Path] = field(default_factory=list)  # vault-encrypted vars files

    def group(self, name: str) -> Group:
        """The group NAME, created empty when first named."""
        return self.groups.setdefault(name, Group(name))

    def add_host(self, group: str, host: str, variables: dict[str, Any]) -> None:
        """Put HOST in GROUP, merging its inline variables."""
        self.hosts.setdefault(host, {}).update(variables)
        members = self.group(group).hosts
        if host not in members:
            members.append(host)

    def parents(self, name: str) -> list[str]:
        """Groups that list NAME as a child."""
        return [g.name for g in self.groups.values() if name in g.children]

    def depth(self, name: str, _seen: frozenset[str] = frozenset()) -> int:
        """Ansible's group depth: 0 for `all`, else one more than the deepest parent."""
        if name == "all":
            return 0
        if name in _seen:
            raise KubesprayError(f"group {name!r}: is its own ancestor (a cycle in ':children')")
        parents = [p for p in self.parents(name) if p != "all"]
        return 1 + max((self.depth(p, _seen | {name}) for p in parents), default=0)

    def members(self, name: str, _seen: frozenset[str] = frozenset()) -> list[str]:
        """Every host of group NAME, through its children too."""
        if name == "all":
            return list(self.hosts)
        if name in _seen:
            raise KubesprayError(f"group {name!r}: is its own ancestor (a cycle in ':children')")
        group = self.groups.get(name)
        if group is None:
            return []
        result = list(group.hosts)
        for child in group.children:
            result += [h for h in self.members(child, _seen | {name}) if h not in result]
        return result

    def groups_of(self, host: str) -> list[str]:
        """The groups HOST belongs to (`all` included), shallowest first, as Ansible orders them."""
        names = [name for name in self.groups if host in self.members(name)]
        return sorted(set(names) | {"all"}, key=lambda n: (self.depth(n), n))

    def variables(self, host: str, extra_groups: Iterable[str] = ()) -> dict[str, Any]:
        """HOST's variables with Ansible's precedence; EXTRA_GROUPS act as groups added by a play."""
        groups = self.groups_of(host)
        others = [g for g in groups if g != "all"] + sorted(set(extra_groups) - set(groups))
        result: dict[str, Any] = dict(self.groups["all"].vars)
        for name in others:  # Ansible's default VARIABLE_PRECEDENCE: inventory-file group vars first,
            result.update(self.groups[name].vars if name in self.groups else {})
        result.update(self.group_vars.get("all", {}))  # then group_vars/all, then group_vars/<group>
        for name in others:
            if name not in self.group_vars:  # a group added by a play: its group_vars apply too
                self.group_vars[name] = extra_group_vars(self, name)
            result.update(self.group_vars[name])
        result.update(self.hosts.get(host, {}))
        result.update(self.host_vars.get(host, {}))
        return result


# ------------------------------------------------------------------ loading


def load(path: str | Path) -> AnsibleInventory:
    """Parse an inventory file or directory, then its group_vars/ and host_vars/."""
    source = Path(path).expanduser()
    if source.is_dir():
        files, base = inventory_files(source), source
        if not files:
            raise KubesprayError(f"{source}: no inventory file (inventory.ini, hosts.yaml, ...) in this directory")
    elif source.is_file():
        files, base = [source], source.parent
    else:
        raise KubesprayError(f"{source}: no such inventory file or directory")
    inventory = AnsibleInventory(sources=files)
    inventory.group("all")
    inventory.group("ungrouped")
    for file in files:
        _parse_file(file, inventory)
    _reconcile(inventory)
    _load_vars_dirs(base, inventory)
    return inventory


def inventory_files(directory: Path) -> list[Path]:
    """The inventory sources of a directory, as Ansible would pick them (top level only)."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix in INI_SUFFIXES + YAML_SUFFIXES + ("",)
    )


def _parse_file(path: Path, inventory: AnsibleInventory) -> None:
    """Parse one inventory file, YAML or INI by its extension (or, without one, by its content)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in YAML_SUFFIXES:
        _parse_yaml(path, _load_yaml(path, text), inventory)
        return
    if path.suffix == "":
        try:
            data = _load_yaml(path, text)
        except KubesprayError:
            data = None
        if isinstance(data, dict):
            _parse_yaml(path, data, inventory)
            return
    _parse_ini(path, text, inventory)


def _reconcile(inventory: AnsibleInventory) -> None:
    """`ungrouped` holds exactly the hosts that are in no other group."""
    others = {
        h for g in inventory.groups.values() if g.name not in ("all", "ungrouped") for h in inventory.members(g.name)
    }
    inventory.groups["ungrouped"].hosts = [h for h in inventory.hosts if h not in others]
    all_group = inventory.groups["all"]
    all_group.children += [
        g for g in inventory.groups if g != "all" and g not in all_group.children and not inventory.parents(g)
    ]


# ---------------------------------------------------------------------- INI


def _parse_ini(path: Path, text: str, inventory: AnsibleInventory) -> None:
    """Ansible's INI format: sections of hosts, `:children` and `:vars`."""
    group, kind = "ungrouped", "hosts"
    pending: dict[str, tuple[int, str, str]] = {}  # group -> (line, kind, parent) awaiting declaration
    declared: set[str] = {"all", "ungrouped"} | {g for g in inventory.groups if inventory.groups[g].hosts}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"{path}:{number}"
        section = _SECTION.match(line)
        if section:
            group, kind = section.group(1), section.group(2) or "hosts"
            if kind not in ("hosts", "children", "vars"):
                raise KubesprayError(
                    f"{where}: section [{group}:{kind}] has unknown type {kind!r}; expected hosts, children or vars"
                )
            inventory.group(group)
            if kind != "vars":
                declared.add(group)
            elif group not in declared:
                pending.setdefault(group, (number, "vars", group))
            continue
        if line.startswith("[") and line.endswith("]"):
            raise KubesprayError(f"{where}: invalid section {line!r} (no spaces, one ':' at most)")
        if kind == "hosts":
            _ini_hosts(where, line, group, inventory)
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise KubesprayError(f"{where}: expected key=value in [{group}:vars], got {line!r}")
            inventory.group(group).vars[key.strip()] = _ini_value(value.strip())
        else:
            child = _GROUP_NAME.match(line)
            if not child:
                raise KubesprayError(f"{where}: expected a group name in [{group}:children], got {line!r}")
            name = child.group(1)
            if name not in declared:
                pending.setdefault(name, (number, "children", group))
            inventory.group(group)
            if name not in inventory.group(group).children:
                inventory.group(group).children.append(name)
            inventory.group(name)
    for name, (number, kind, parent) in pending.items():
        if name not in declared:
            if kind == "vars":
                raise KubesprayError(
                    f"{path}:{number}: section [{name}:vars] is for group {name!r}, which is never declared"
                )
            raise KubesprayError(
                f"{path}:{number}: section [{parent}:children] names group {name!r}, which is never declared "
                f"(add a [{name}] section, even an empty one)"
            )


def _ini_hosts(where: str, line: str, group: str, inventory: AnsibleInventory) -> None:
    """A `host key=value ...` line: the host (or range) with its variables."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise KubesprayError(f"{where}: cannot parse host line {line!r}: {exc}") from None
    if not tokens:
        return
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise KubesprayError(f"{where}: expected key=value after the host name, got {token!r}")
        variables[key] = _ini_value(value)
    names, port = _host_pattern(where, tokens[0])
    if port is not None:
        variables.setdefault("ansible_port", port)
    for name in names:
        inventory.add_host(group, name, variables)


def _ini_value(value: str) -> Any:
    """Ansible's INI value: a Python literal when it parses as one, else the string."""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value
    return parsed if isinstance(parsed, (str, int, float, bool, list, dict, type(None))) else value


# --------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads Ansible's `!unsafe` and `!vault` tags."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    """`!vault` -> Vaulted(); any other `!tag` -> the plain value."""
    if suffix == "vault":
        return Vaulted()
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tagged)


def _load_yaml(path: Path, text: str) -> Any:
    """YAML (or JSON) text as Python data; a syntax error names the file and line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise KubesprayError(f"{path}: not valid YAML: {exc}") from None


def _parse_yaml(path: Path, data: Any, inventory: AnsibleInventory) -> None:
    """Ansible's YAML format: top-level groups (usually just `all`) with hosts, children and vars."""
    if not isinstance(data, dict) or not data:
        raise KubesprayError(f"{path}: expected a YAML mapping of groups (all: {{hosts: ..., children: ...}})")
    for name, body in data.items():
        _yaml_group(path, str(name), body, inventory)


def _yaml_group(path: Path, name: str, body: Any, inventory: AnsibleInventory) -> None:
    """One YAML group: `hosts` (name -> vars), `children` (name -> group) and `vars`."""
    where = f"{path}: group {name!r}"
    inventory.group(name)
    if body is None:
        return
    if not isinstance(body, dict):
        raise KubesprayError(f"{where}: expected a mapping with hosts, children or vars, got {body!r}")
    unknown = sorted(set(body) - {"hosts", "children", "vars"})
    if unknown:
        raise KubesprayError(
            f"{where}: unexpected key(s) {', '.join(map(repr, unknown))}; expected hosts, children or vars"
        )
    for section in ("hosts", "children", "vars"):
        if body.get(section) is not None and not isinstance(body[section], dict):
            raise KubesprayError(f"{where}: {section!r} must be a mapping, got {body[section]!r}")
    inventory.group(name).vars.update(body.get("vars") or {})
    for pattern, variables in (body.get("hosts") or {}).items():
        if variables is not None and not isinstance(variables, dict):
            raise KubesprayError(f"{where}: host {pattern!r} must map to variables, got {variables!r}")
        names, port = _host_pattern(where, str(pattern))
        host_vars = dict(variables or {})
        if port is not None:
            host_vars.setdefault("ansible_port", port)
        for host in names:
            inventory.add_host(name, host, host_vars)
    for child, child_body in (body.get("children") or {}).items():
        if str(child) not in inventory.group(name).children:
            inventory.group(name).children.append(str(child))
        _yaml_group(path, str(child), child_body, inventory)


# ---------------------------------------------------------------- patterns


def _host_pattern(where: str, pattern: str) -> tuple[list[str], int | None]:
    """Host names of a pattern (`node1`, `node[1:3]`, `db[a:c]`) and its `:port`, if any."""
    port: int | None = None
    outside_ranges = _RANGE.sub("", pattern)
    if outside_ranges.count(":") == 1 and re.search(r":\d+$", pattern):
        pattern, digits = pattern.rsplit(":", 1)
        port = int(digits)
    if pattern.endswith(":"):
        raise KubesprayError(f"{where}: host pattern {pattern!r} ends in ':' (reserved for a port)")
    return _expand(where, pattern), port


def _expand(where: str, pattern: str) -> list[str]:
    """Expand the first `[begin:end(:step)]` range, recursively."""
    found = _RANGE.search(pattern)
    if not found:
        return [pattern]
    head, tail = pattern[: found.start()], pattern[found.end() :]
    bounds = found.group(0)[1:-1].split(":")
    if len(bounds) not in (2, 3) or not bounds[1]:
        raise KubesprayError(f"{where}: host range {found.group(0)} must be [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step = int(bounds[2]) if len(bounds) == 3 else 1
    if begin in string.ascii_letters and end in string.ascii_letters:
        items = list(
            string.ascii_letters[string.ascii_letters.index(begin) : string.ascii_letters.index(end) + 1 : step]
        )
    elif begin.isdigit() and end.isdigit():
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise KubesprayError(f"{where}: host range {found.group(0)}: begin and end need the same width")
        items = [str(i).zfill(width) for i in range(int(begin), int(end) + 1, step)]
    else:
        raise KubesprayError(f"{where}: host range {found.group(0)} is neither numeric nor alphabetic")
    return [name for item in items for name in _expand(where, f"{head}{item}{tail}")]


# --------------------------------------------------------------- vars dirs


def _load_vars_dirs(base: Path, inventory: AnsibleInventory) -> None:
    """group_vars/<group> and host_vars/<host> beside the inventory, for groups and hosts it has."""
    group_dir, host_dir = base / "group_vars", base / "host_vars"
    if group_dir.is_dir():
        inventory.vars_dirs.append(group_dir)
        for name in inventory.groups:
            inventory.group_vars[name] = _merged_vars(group_dir, name, inventory)
    if host_dir.is_dir():
        inventory.vars_dirs.append(host_dir)
        for name in inventory.hosts:
            inventory.host_vars[name] = _merged_vars(host_dir, name, inventory)


def _merged_vars(directory: Path, name: str, inventory: AnsibleInventory) -> dict[str, Any]:
    """Every vars file of NAME in DIRECTORY, merged in Ansible's order (later files win)."""
    merged: dict[str, Any] = {}
    for file in _vars_files(directory, name):
        merged.update(_vars_file(file, inventory))
    return merged


def extra_group_vars(inventory: AnsibleInventory, name: str) -> dict[str, Any]:
    """group_vars/NAME for a group the inventory lacks (one a play adds, e.g. with group_by)."""
    merged: dict[str, Any] = {}
    for directory in inventory.vars_dirs:
        if directory.name == "group_vars":
            merged.update(_merged_vars(directory, name, inventory))
    return merged


def _vars_files(directory: Path, name: str) -> list[Path]:
    """NAME, NAME.yml, NAME.yaml, NAME.json, and every such file under the directory NAME/."""
    files = [directory / f"{name}{suffix}" for suffix in VARS_SUFFIXES]
    found = [f for f in files if f.is_file()]
    folder = directory / name
    if folder.is_dir():
        found += sorted(
            f for f in folder.rglob("*") if f.is_file() and f.suffix in VARS_SUFFIXES and not f.name.startswith(".")
        )
    return found


def _vars_file(path: Path, inventory: AnsibleInventory) -> dict[str, Any]:
    """One variables file; a vault-encrypted one is skipped (and remembered)."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("$ANSIBLE_VAULT;"):
        inventory.skipped_files.append(path)
        return {}
    data = _load_yaml(path, text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubesprayError(f"{path}: expected a mapping of variables, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}
