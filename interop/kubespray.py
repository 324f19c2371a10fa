"""kubespray <-> kubeadm-pyinfra inventories.

    python -m interop.kubespray import KUBESPRAY_INVENTORY --out DIR [--name NAME] [--api-lb auto|vip|external]
    python -m interop.kubespray export INVENTORY.py --out DIR [--format ini|yaml] [--group-data DIR]

`import` writes DIR/NAME.py (hosts) and DIR/group_data/NAME.py (cluster data): deploy
with `pyinfra DIR/NAME.py deploys/cluster.py`. `export` writes a kubespray inventory
directory that kubespray v2.31.0 accepts (its own inventory checks are run on it first). Both
validate with deploys.model and contact no host; docs/kubespray.md says what each kubespray
variable becomes. What cannot be carried
over is printed as a warning; what would break the cluster is an error (exit status 2).
`inventories/kubespray.py` uses `pyinfra_groups` to deploy straight from a kubespray inventory.
"""

from __future__ import annotations

import argparse
import pprint
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyinfra.api.exceptions import PyinfraError

from deploys import model
from interop.exporter import FORMATS, Exported, export_inventory
from interop.importer import API_LB_MODES, Imported, import_inventory
from interop.report import Finding, KubesprayError

__all__ = [
    "Exported",
    "Imported",
    "KubesprayError",
    "export_inventory",
    "import_inventory",
    "pyinfra_groups",
    "write_pyinfra",
]

PER_HOST_KEYS = ("node_ip", "ssh_hostname", "node_name", "keepalived_interface")


def pyinfra_groups(path: str | Path, api_lb: str = "auto") -> tuple[Imported, dict[str, Any]]:
    """Module-level groups for a pyinfra inventory file: control_plane, workers and `all` (cluster data)."""
    imported = import_inventory(path, api_lb)
    names = [h.name for h in imported.hosts]
    return imported, {
        model.CONTROL_PLANE_GROUP: imported.control_planes,
        model.WORKER_GROUP: imported.workers,
        "all": (names, imported.cluster_data),
    }


# ------------------------------------------------------------ pyinfra files


def default_name(source: str | Path) -> str:
    """The cluster's file name: kubespray's inventory/<cluster>/ directory name, made safe."""
    path = Path(source).expanduser().resolve()
    folder = path if path.is_dir() else path.parent
    name = re.sub(r"[^a-z0-9_-]+", "-", folder.name.lower()).strip("-")
    return name or "kubespray-cluster"


def split_data(imported: Imported) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    """(group data: every key the same on all hosts, hosts: (name, role, own data)), per-host keys kept per host."""
    datas = [{**h.cluster, **h.data} for h in imported.hosts]
    shared_keys = set.intersection(*(set(d) for d in datas)) if datas else set()
    common = {
        key: datas[0][key]
        for key in sorted(shared_keys)
        if key not in PER_HOST_KEYS and all(d[key] == datas[0][key] for d in datas)
    }
    hosts = [
        (h.name, h.role, {k: v for k, v in d.items() if k not in common})
        for h, d in zip(imported.hosts, datas, strict=True)
    ]
    return common, hosts


def render_inventory(imported: Imported, name: str, path: str | Path | None = None) -> str:
    """The pyinfra inventory file: control_plane and workers with each host's own data."""
    _, hosts = split_data(imported)
    lines = [
        f'"""Cluster {name}, imported from the kubespray inventory {imported.source}',
        "by `python -m interop.kubespray import`; its cluster data: group_data/" + f"{name}.py beside this file.",
        "",
        f"Deploy (from the repository root): pyinfra {path or name + '.py'} deploys/cluster.py",
        '"""',
        "",
    ]
    for group in (model.CONTROL_PLANE_GROUP, model.WORKER_GROUP):
        lines.append(f"{group} = [")
        for host, role, data in hosts:
            if role == group:
                lines.append(f"    ({host!r}, {pprint.pformat(data, width=200, sort_dicts=False)}),")
        lines += ["]", ""]
    return "\n".join(lines)


def render_group_data(imported: Imported, name: str) -> str:
    """The group data file: cluster data shared by every host, the import's warnings as comments."""
    common, _ = split_data(imported)
    lines = [f'"""Cluster data for {name}.py, imported from the kubespray inventory {imported.source}."""', ""]
    if imported.warnings:
        lines.append("# Import warnings: what kubespray would do that this deploy does not (docs/kubespray.md).")
        lines += [f"#   - {finding}" for finding in imported.warnings]
        lines.append("")
    lines += [f"{key} = {value!r}" for key, value in common.items()]
    return "\n".join(lines) + "\n"


def write_pyinfra(imported: Imported, out: str | Path, name: str, force: bool = False) -> list[Path]:
    """Write OUT/NAME.py and OUT/group_data/NAME.py (pyinfra reads group_data/ beside the inventory)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name) or name == "all":
        raise KubesprayError(f"name {name!r}: expected letters, digits, '-' or '_' (and not 'all')")
    directory = Path(out)
    inventory_file, group_file = directory / f"{name}.py", directory / "group_data" / f"{name}.py"
    files = {
        inventory_file: render_inventory(imported, name, inventory_file),
        group_file: render_group_data(imported, name),
    }
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        raise KubesprayError(f"would overwrite {', '.join(existing)}; pass --force to replace them")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


# ---------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    """The command line: `import` and `export`."""
    top = argparse.ArgumentParser(prog="python -m interop.kubespray", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="kubespray inventory -> pyinfra inventory file + group data")
    imp.add_argument("inventory", help="kubespray inventory file (INI or YAML) or its directory")
    imp.add_argument("--out", required=True, help="directory for NAME.py and group_data/NAME.py")
    imp.add_argument("--name", help="cluster file name (default: the kubespray inventory's directory name)")
    imp.add_argument(
        "--api-lb", choices=API_LB_MODES, default="auto", help="how to read loadbalancer_apiserver (default: auto)"
    )
    imp.add_argument("--force", action="store_true", help="overwrite existing files")
    exp = commands.add_parser("export", help="pyinfra inventory -> kubespray inventory directory")
    exp.add_argument("inventory", help="our inventory file, e.g. inventories/test.py")
    exp.add_argument("--out", required=True, help="kubespray inventory directory to write")
    exp.add_argument("--format", choices=tuple(FORMATS), default="ini", help="inventory.ini (default) or hosts.yaml")
    exp.add_argument("--group-data", action="append", default=[], help="extra group data directory (as pyinfra's)")
    exp.add_argument("--force", action="store_true", help="overwrite existing files")
    return top


def _print_warnings(warnings: list[Finding]) -> None:
    for finding in warnings:
        print(f"warning: {finding}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 on success, 2 on an error (printed, nothing written)."""
    args = parser().parse_args(argv)
    try:
        if args.command == "import":
            imported = import_inventory(args.inventory, args.api_lb)
            _print_warnings(imported.warnings)
            files = write_pyinfra(imported, args.out, args.name or default_name(args.inventory), args.force)
        else:
            exported = export_inventory(args.inventory, args.out, args.format, args.group_data, args.force)
            _print_warnings(exported.warnings)
            files = exported.files
    except PyinfraError as exc:  # KubesprayError, or an inventory file pyinfra cannot load
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in files:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
