#!/usr/bin/python3
"""TEST DOUBLE of crictl (cri-tools) for the lab (not cri-tools).

Reads the runtime endpoint like crictl (--runtime-endpoint/-r, $CONTAINER_RUNTIME_ENDPOINT,
/etc/crictl.yaml `runtime-endpoint`, else the deprecated default list with its warning) and
answers from containerd through `ctr` (version) and from the kubelet stand-in's static pods
(ps, pods, stopp, rmp): the lab runs no CRI containers. Output and messages copy
kubernetes-sigs/cri-tools cmd/crictl (v1.35-v1.37): version.go, info.go, container.go, sandbox.go.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402

CRICTL_VERSION = "@CRICTL_VERSION@"  # filled in when the lab builds cri-tools
CONFIG = Path(os.environ.get("CRI_CONFIG_FILE", "/etc/crictl.yaml"))
DEFAULTS = ["unix:///run/containerd/containerd.sock", "unix:///run/crio/crio.sock", "unix:///var/run/cri-dockerd.sock"]
STATE = Path(os.environ.get("K8S_STANDIN_POD_STATE", "/run/k8s-standin-pods"))
S, B = "str", "bool"
FLAGS = {"runtime-endpoint": S, "image-endpoint": S, "timeout": S, "debug": B, "config": S, "output": S,
         "quiet": B, "all": B, "force": B, "name": S, "state": S, "verbose": B, "version": B, "help": B}
SHORT = {"r": "runtime-endpoint", "i": "image-endpoint", "t": "timeout", "D": "debug", "c": "config", "o": "output",
         "q": "quiet", "a": "all", "f": "force", "v": "verbose"}


def fatal(text: str) -> int:
    """crictl's logrus FATA line, exit 1."""
    print(f"time=\"{standin.now_rfc3339()}\" level=fatal msg=\"{text}\"", file=sys.stderr)
    return 1


def endpoint(opts: dict[str, Any]) -> str:
    """The runtime endpoint, in crictl's order of precedence."""
    if opts.get("runtime-endpoint"):
        return str(opts["runtime-endpoint"])
    if os.environ.get("CONTAINER_RUNTIME_ENDPOINT"):
        return os.environ["CONTAINER_RUNTIME_ENDPOINT"]
    conf = Path(opts.get("config") or CONFIG)
    if conf.exists():
        found = re.search(r"^runtime-endpoint:\s*['\"]?([^'\"\s]+)", conf.read_text(), re.M)
        if found:
            return found.group(1)
    print(f'time="{standin.now_rfc3339()}" level=warning msg="runtime connect using default endpoints: '
          f'[{" ".join(DEFAULTS)}]. As the default settings are now deprecated, you should set the endpoint '
          'instead."', file=sys.stderr)
    for item in DEFAULTS:
        if Path(item.removeprefix("unix://")).is_socket():
            return item
    return DEFAULTS[0]


def runtime_version(ep: str) -> str | None:
    """containerd's version over its socket (ctr), None when it does not answer."""
    sock = ep.removeprefix("unix://")
    if not Path(sock).is_socket():
        return None
    ctr = next((c for c in ("/usr/local/bin/ctr", "/usr/bin/ctr") if Path(c).exists()), "ctr")
    res = subprocess.run([ctr, "--address", sock, "version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"Version:\s*(v?\d+\.\d+\.\d+\S*)", res.stdout.split("Server:", 1)[-1])
    return found.group(1) if res.returncode == 0 and found else None


def unreachable(ep: str) -> int:
    """The error crictl prints when the runtime does not answer."""
    sock = ep.removeprefix("unix://")
    return fatal(f'validate service connection: validate CRI v1 runtime API for endpoint \\"{ep}\\": rpc error: '
                 'code = Unavailable desc = connection error: desc = \\"transport: Error while dialing: dial unix '
                 f'{sock}: connect: no such file or directory\\"')


def pods() -> list[dict[str, str]]:
    """The kubelet stand-in's static pods (name, state) from its state directory and systemd."""
    out = []
    for stamp in sorted(STATE.glob("*.hash")):
        unit = f"{standin.POD_UNIT_PREFIX}{stamp.stem}.service"
        res = subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True)
        state = "Running" if res.stdout.strip() == "active" else "Exited"
        out.append({"name": stamp.stem, "id": stamp.read_text().strip()[:13], "state": state})
    return out


def main(argv: list[str]) -> int:
    """Dispatch a crictl command line."""
    expanded = [f"--{SHORT[a[1]]}{a[2:] and '=' + a[2:].lstrip('=')}" if re.fullmatch(r"-[a-zA-Z].*", a)
                and a[1] in SHORT else a for a in argv]
    try:
        opts, args = standin.parse_flags(expanded, FLAGS)
    except standin.Fail as exc:
        return fatal(str(exc))
    if opts.get("version"):
        print(f"crictl version v{CRICTL_VERSION}")
        return 0
    command = args[0] if args else "help"
    ep = endpoint(opts)
    if command == "version":
        version = runtime_version(ep)
        if version is None:
            return unreachable(ep)
        print(f"Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  {version}\nRuntimeApiVersion:  v1")
        return 0
    if command == "info":
        if runtime_version(ep) is None:
            return unreachable(ep)
        cni = Path("/etc/cni/net.d")
        net = cni.is_dir() and any(p.suffix in (".conf", ".conflist", ".json") for p in cni.iterdir())
        conditions = [{"type": "RuntimeReady", "status": True, "reason": "", "message": ""},
                      {"type": "NetworkReady", "status": net, "reason": "" if net else "NetworkPluginNotReady",
                       "message": "" if net else "Network plugin returns error: cni plugin not initialized"}]
        print(json.dumps({"status": {"conditions": conditions}, "config": {"lab": "TEST DOUBLE crictl"}}, indent=2))
        return 0
    if command in ("ps", "pods"):
        if runtime_version(ep) is None:
            return unreachable(ep)
        items = [p for p in pods() if opts.get("all") or p["state"] == "Running"]
        if opts.get("quiet"):
            print("\n".join(p["id"] for p in items))
            return 0
        if command == "ps":
            print(f"{'CONTAINER':<15}{'IMAGE':<10}{'CREATED':<10}{'STATE':<10}{'NAME':<26}{'ATTEMPT':<9}POD ID")
            for p in items:
                print(f"{p['id']:<15}{'-':<10}{'-':<10}{p['state']:<10}{p['name']:<26}{'0':<9}{p['id']}")
        else:
            print(f"{'POD ID':<15}{'CREATED':<10}{'STATE':<10}{'NAME':<26}NAMESPACE")
            for p in items:
                print(f"{p['id']:<15}{'-':<10}{'Ready' if p['state'] == 'Running' else 'NotReady':<10}"
                      f"{p['name']:<26}kube-system")
        return 0
    if command in ("stopp", "rmp"):
        if not opts.get("all") and len(args) < 2:
            return fatal("ID cannot be empty")
        stopped = standin.stop_static_pods() if opts.get("all") else []
        for unit in stopped:
            name = unit.removeprefix(standin.POD_UNIT_PREFIX).removesuffix(".service")
            (STATE / f"{name}.hash").unlink(missing_ok=True)
            print(f"{'Stopped' if command == 'stopp' else 'Removed'} sandbox {name}")
        return 0
    if command == "images":
        print(f"{'IMAGE':<40}{'TAG':<20}{'IMAGE ID':<15}SIZE")
        return 0
    return fatal(f'No help topic for \'{command}\'' if command != "help" else "crictl (TEST DOUBLE): see README")


if __name__ == "__main__":
    standin.log_call("crictl")
    sys.exit(main(sys.argv[1:]))
