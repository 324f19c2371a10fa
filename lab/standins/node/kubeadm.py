#!/usr/bin/python3
"""TEST DOUBLE of kubeadm for the lab (not Kubernetes).

Keeps the contract a deploy relies on: validates the config like kubeadm does for the
fields it uses, runs preflight checks, makes a real CA, starts a stand-in API server
on :6443, issues bootstrap tokens and certificate keys, and joins nodes after checking
the CA hash, the token and the certificate key. Every call is logged to /var/log/k8s-standin.log.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import secrets
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402
from standin import Fail  # noqa: E402

import yaml  # noqa: E402

HERE = Path(__file__).resolve().parent
STORE = Path("/var/lib/k8s-standin/store.json")
DEFAULT_CRI = "unix:///var/run/containerd/containerd.sock"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KINDS = {
    "kubeadm.k8s.io/v1beta4": {"InitConfiguration", "ClusterConfiguration", "JoinConfiguration",
                               "ResetConfiguration", "UpgradeConfiguration"},
    "kubeadm.k8s.io/v1beta3": {"InitConfiguration", "ClusterConfiguration", "JoinConfiguration"},
    "kubelet.config.k8s.io/v1beta1": {"KubeletConfiguration"},
    "kubeproxy.config.k8s.io/v1alpha1": {"KubeProxyConfiguration"},
}
ARGS = "list-of-args"
LIST = "list"
ANY = "any"
NODE_REG = {"name": str, "criSocket": str, "taints": LIST, "kubeletExtraArgs": ARGS, "ignorePreflightErrors": LIST,
            "imagePullPolicy": str, "imagePullSerial": bool}
CONTROL = {"extraArgs": ARGS, "extraVolumes": LIST, "extraEnvs": LIST}
SCHEMA: dict[str, dict[str, Any]] = {
    "InitConfiguration": {
        "apiVersion": str, "kind": str, "bootstrapTokens": LIST, "dryRun": bool, "nodeRegistration": NODE_REG,
        "localAPIEndpoint": {"advertiseAddress": str, "bindPort": int}, "certificateKey": str, "skipPhases": LIST,
        "patches": {"directory": str},
        "timeouts": {k: str for k in ("controlPlaneComponentHealthCheck", "kubeletHealthCheck", "kubernetesAPICall",
                                      "etcdAPICall", "tlsBootstrap", "discovery", "upgradeManifests")},
    },
    "ClusterConfiguration": {
        "apiVersion": str, "kind": str, "etcd": {"local": ANY, "external": ANY},
        "networking": {"serviceSubnet": str, "podSubnet": str, "dnsDomain": str},
        "kubernetesVersion": str, "controlPlaneEndpoint": str,
        "apiServer": {**CONTROL, "certSANs": LIST, "timeoutForControlPlane": str},
        "controllerManager": CONTROL, "scheduler": CONTROL,
        "dns": {"imageRepository": str, "imageTag": str, "disabled": bool}, "proxy": {"disabled": bool},
        "certificatesDir": str, "imageRepository": str, "featureGates": ANY, "clusterName": str,
        "encryptionAlgorithm": str, "certificateValidityPeriod": str, "caCertificateValidityPeriod": str,
    },
    "JoinConfiguration": {
        "apiVersion": str, "kind": str, "dryRun": bool, "nodeRegistration": NODE_REG, "caCertPath": str,
        "discovery": ANY, "controlPlane": ANY, "skipPhases": LIST, "patches": ANY, "timeouts": ANY,
    },
}


# ---------------------------------------------------------------- config validation

def strict(obj: Any, schema: Any, path: str, version: str) -> None:
    """Reject unknown fields and wrong shapes, as kubeadm's strict decoding does."""
    if schema is ANY:
        return
    if schema is ARGS:
        if version.endswith("v1beta3"):
            if not isinstance(obj, dict):
                raise Fail(f"json: cannot unmarshal {type(obj).__name__} into Go struct field {path} of type "
                           "map[string]string")
            return
        if not isinstance(obj, list) or not all(isinstance(a, dict) and set(a) <= {"name", "value"} and "name" in a
                                                for a in obj):
            raise Fail(f"json: cannot unmarshal object into Go struct field {path} of type []v1beta4.Arg")
        return
    if schema is LIST:
        if not isinstance(obj, list):
            raise Fail(f"json: cannot unmarshal {type(obj).__name__} into Go struct field {path} of type []string")
        return
    if isinstance(schema, dict):
        if not isinstance(obj, dict):
            raise Fail(f"json: cannot unmarshal {type(obj).__name__} into Go struct field {path}")
        for key, value in obj.items():
            if key not in schema:
                raise Fail(f'strict decoding error: unknown field "{path + "." if path else ""}{key}"')
            strict(value, schema[key], f"{path + '.' if path else ''}{key}", version)
        return
    if schema is int and (not isinstance(obj, int) or isinstance(obj, bool)):
        raise Fail(f"json: cannot unmarshal {type(obj).__name__} into Go struct field {path} of type int32")
    if schema is str and not isinstance(obj, str):
        raise Fail(f"json: cannot unmarshal {type(obj).__name__} into Go struct field {path} of type string")
    if schema is bool and not isinstance(obj, bool):
        raise Fail(f"json: cannot unmarshal {type(obj).__name__} into Go struct field {path} of type bool")


def load_config(path: str) -> dict[str, dict]:
    """Parse and validate a kubeadm config file; return its documents by kind."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise Fail(f"unable to read config from {path!r} : {exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise Fail(f"error converting YAML to JSON: {exc}") from None
    found: dict[str, dict] = {}
    for doc in docs:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise Fail("Object 'Kind' is missing in the config document" if isinstance(doc, dict) and "apiVersion" in doc
                       else "Object 'apiVersion' is missing in the config document")
        api, kind = doc["apiVersion"], doc["kind"]
        if api not in KINDS:
            raise Fail(f'no kind "{kind}" is registered for version "{api}" in scheme')
        if kind not in KINDS[api]:
            raise Fail(f'no kind "{kind}" is registered for version "{api}" in scheme')
        if kind in found:
            raise Fail(f"found multiple {kind} documents in the config file")
        if api.endswith("v1beta3"):
            print(f'W0000 00:00:00.000000 common.go:101] your configuration file uses a deprecated API spec: "{api}" '
                  '(kind: "' + kind + '"). Please use \'kubeadm config migrate --old-config old.yaml --new-config '
                  "new.yaml', which will write the new, similar spec using a newer API version.", file=sys.stderr)
        if kind in SCHEMA:
            strict(doc, SCHEMA[kind], "", api)
        if kind == "KubeletConfiguration" and doc.get("cgroupDriver", "systemd") not in ("systemd", "cgroupfs"):
            raise Fail(f'invalid configuration for KubeletConfiguration: cgroupDriver "{doc["cgroupDriver"]}" is not '
                       "one of systemd, cgroupfs")
        found[kind] = doc
    if not found:
        raise Fail(f"no InitConfiguration or ClusterConfiguration kind was found in the YAML file {path}")
    return found


def check_version(version: str) -> str:
    """Validate kubernetesVersion against what this kubeadm can deploy."""
    m = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        raise Fail(f'couldn\'t parse Kubernetes version "{version}"')
    mine = tuple(int(x) for x in standin.KUBE_VERSION.split("."))
    theirs = tuple(int(x) for x in m.groups())
    if theirs[:2] < (mine[0], mine[1] - 1):
        raise Fail(f"this version of kubeadm only supports deploying clusters with the control plane version >= "
                   f"{mine[0]}.{mine[1] - 1}.0. Current version: {version}")
    if theirs[:2] > mine[:2]:
        raise Fail(f'the requested Kubernetes version "{version}" is newer than this kubeadm (v{standin.KUBE_VERSION})')
    return "v" + ".".join(m.groups())


def check_cidr(value: str, field: str) -> None:
    """Validate one or a comma-separated pair of CIDRs."""
    for part in value.split(","):
        try:
            ipaddress.ip_network(part.strip(), strict=True)
        except ValueError:
            raise Fail(f"{field}: Invalid value: \"{value}\": couldn't parse subnet") from None


def endpoint_of(value: str, default_port: int) -> tuple[str, int]:
    """Split host[:port], validating it."""
    host, _, port = value.rpartition(":") if ":" in value else (value, "", str(default_port))
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Fail(f'controlPlaneEndpoint: Invalid value: "{value}": must be a valid host[:port]')
    return host, int(port)


def extra_args(reg: dict) -> dict[str, str]:
    """nodeRegistration.kubeletExtraArgs as a dict, for either API version."""
    args = reg.get("kubeletExtraArgs") or {}
    return {a["name"]: a.get("value", "") for a in args} if isinstance(args, list) else dict(args)


def default_ip() -> str:
    """The address of the interface holding the default route, as kubeadm picks it."""
    res = subprocess.run(["ip", "-o", "-4", "route", "get", "10.255.255.254"], capture_output=True, text=True)
    m = re.search(r"\bsrc (\S+)", res.stdout)
    if not m:
        raise Fail("unable to select an IP from default routes.")
    return m.group(1)


# ---------------------------------------------------------------- preflight

def preflight(ignored: set[str], *, files_absent: list[Path], port: int | None, cri: str) -> None:
    """The preflight checks whose failure the deploy must have prevented."""
    errors = []
    for path in files_absent:
        if path.exists():
            errors.append((f"FileAvailable-{str(path).replace('/', '-')}", f"{path} already exists"))
    fwd = Path("/proc/sys/net/ipv4/ip_forward")
    if fwd.read_text().strip() != "1":
        errors.append(("FileContent--proc-sys-net-ipv4-ip_forward", f"{fwd} contents are not set to 1"))
    sock = cri.removeprefix("unix://")
    if not Path(sock).is_socket():
        errors.append(("CRI", f"container runtime is not running: output: validate service connection: validate CRI "
                              f"v1 runtime API for endpoint \"{cri}\": rpc error: code = Unavailable desc = connection "
                              f"error: desc = \"transport: Error while dialing: dial unix {sock}: connect: no such file "
                              "or directory\""))
    if port is not None:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                errors.append((f"Port-{port}", f"Port {port} is in use"))
    swaps = Path("/proc/swaps").read_text().strip().splitlines()[1:]
    if swaps:
        print("\t[WARNING Swap]: swap is supported for cgroup v2 only...", file=sys.stderr)
    if not subprocess.run(["systemctl", "is-enabled", "--quiet", "kubelet.service"]).returncode == 0:
        print("\t[WARNING Service-Kubelet]: kubelet service is not enabled, please run 'systemctl enable "
              "kubelet.service'", file=sys.stderr)
    bad = [(n, m) for n, m in errors if n not in ignored and "all" not in ignored]
    if bad:
        lines = "\n".join(f"\t[ERROR {n}]: {m}" for n, m in bad)
        raise Fail(f"preflight: [preflight] Some fatal errors occurred:\n{lines}\n[preflight] If you know what you are "
                   "doing, you can make a check non-fatal with `--ignore-preflight-errors=...`")


def ignored_set(values: list[str]) -> set[str]:
    """Flatten --ignore-preflight-errors values."""
    return {p.strip() for v in values for p in v.split(",") if p.strip()}


# ---------------------------------------------------------------- shared steps

def write_kubelet_files(kubelet_cfg: dict | None, node_ip: str | None) -> None:
    """What kubeadm writes for the kubelet, then restart it."""
    path = Path("/var/lib/kubelet/config.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "cgroupDriver": "systemd",
           **(kubelet_cfg or {})}
    path.write_text(yaml.safe_dump(cfg))
    flags = "--container-runtime-endpoint=" + DEFAULT_CRI
    Path("/var/lib/kubelet/kubeadm-flags.env").write_text(f'KUBELET_KUBEADM_ARGS="{flags}"\n')
    standin.systemctl("restart", "kubelet.service")


def start_apiserver(conf: dict) -> None:
    """Write the stand-in API server's config and unit, start it, wait for /healthz."""
    standin.STANDIN_DIR.mkdir(parents=True, exist_ok=True)
    standin.APISERVER_CONF.write_text(json.dumps(conf, indent=1))
    standin.APISERVER_UNIT.write_text(
        "[Unit]\nDescription=TEST DOUBLE kube-apiserver (lab stand-in, not Kubernetes)\nAfter=network-online.target\n\n"
        f"[Service]\nExecStart=/usr/bin/python3 {HERE / 'apiserver.py'}\nRestart=always\nRestartSec=1\n\n"
        "[Install]\nWantedBy=multi-user.target\n")
    standin.systemctl("daemon-reload")
    standin.systemctl("enable", "--now", standin.APISERVER_UNIT.name)
    ctx = ssl.create_default_context(cafile=str(standin.PKI / "ca.crt"))
    deadline = time.time() + 40
    while True:
        try:
            import urllib.request
            with urllib.request.urlopen(f"https://127.0.0.1:{conf['port']}/healthz", context=ctx, timeout=2) as r:
                if r.read() == b"ok":
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise Fail("wait-control-plane: the API server did not become healthy on :%s" % conf["port"])
        time.sleep(0.2)


def wait_endpoint(endpoint: str, timeout: float = 240) -> None:
    """Wait until the control-plane endpoint answers an authenticated API call, as kubeadm's later phases need."""
    client = standin.Client(standin.ADMIN_CONF)
    deadline = time.time() + timeout
    while True:
        try:
            client.call("GET", "/api/v1/nodes")
            return
        except Fail as exc:
            if time.time() > deadline:
                raise Fail(f"upload-config: could not reach the control-plane endpoint {endpoint}: {exc}") from None
            time.sleep(0.5)


def server_sans(ip: str, endpoint_host: str, service_cidr: str, name: str, dns_domain: str, extra: list[str]) -> list[str]:
    """Subject alternative names of the API server's certificate."""
    first_service_ip = str(next(ipaddress.ip_network(service_cidr.split(",")[0]).hosts()))
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{dns_domain}", name]
    ips = {ip, first_service_ip, "127.0.0.1"}
    for host in [endpoint_host, *extra]:
        try:
            ipaddress.ip_address(host)
            ips.add(host)
        except ValueError:
            names.append(host)
    return [f"DNS:{n}" for n in names] + [f"IP:{i}" for i in sorted(ips)]


def control_plane_certs(ip: str, endpoint: str, service_cidr: str, name: str, dns_domain: str, extra: list[str],
                        cluster_name: str) -> None:
    """API server cert, forwarding cert, admin.conf (CA already in pki/)."""
    ca_crt, ca_key = standin.PKI / "ca.crt", standin.PKI / "ca.key"
    host = endpoint.rpartition(":")[0]
    standin.issue(standin.PKI / "apiserver.crt", standin.PKI / "apiserver.key", "/CN=kube-apiserver", ca_crt, ca_key,
                  server_sans(ip, host, service_cidr, name, dns_domain, extra))
    standin.issue(standin.STANDIN_DIR / "forward.crt", standin.STANDIN_DIR / "forward.key",
                  "/O=system:masters/CN=kube-apiserver-standin-forward", ca_crt, ca_key, client=True)
    admin_crt, admin_key = standin.PKI / "admin-client.crt", standin.PKI / "admin-client.key"
    standin.issue(admin_crt, admin_key, "/O=kubeadm:cluster-admins/CN=kubernetes-admin", ca_crt, ca_key, client=True)
    conf = standin.kubeconfig(f"https://{endpoint}", ca_crt.read_bytes(), "kubernetes-admin", admin_crt.read_bytes(),
                              admin_key.read_bytes(), cluster_name)
    standin.write_private(standin.ADMIN_CONF, conf)
    standin.write_private(standin.KDIR / "super-admin.conf", conf)
    admin_crt.unlink()
    admin_key.unlink()


def kubelet_conf(endpoint: str, name: str, cert_pem: bytes, key: Path, cluster_name: str) -> None:
    """Write /etc/kubernetes/kubelet.conf for this node."""
    conf = standin.kubeconfig(f"https://{endpoint}", (standin.PKI / "ca.crt").read_bytes(), f"system:node:{name}",
                              cert_pem, key.read_bytes(), cluster_name)
    standin.write_private(standin.KUBELET_CONF, conf)


def node_ip_from_kubelet_args(default: str) -> str:
    """--node-ip from /etc/default/kubelet, as the kubelet would register it."""
    path = Path("/etc/default/kubelet")
    m = re.search(r"--node-ip[= ](\S+?)[\"'\s]", path.read_text() + " ") if path.exists() else None
    return m.group(1) if m else default


def join_command(endpoint: str, token: str, ca_hash: str, cert_key: str | None = None) -> str:
    """The join command line kubeadm prints."""
    cmd = f"kubeadm join {endpoint} --token {token} --discovery-token-ca-cert-hash {ca_hash} "
    if cert_key:
        cmd += f"--control-plane --certificate-key {cert_key}"
    return cmd


def new_token() -> str:
    """A bootstrap token [a-z0-9]{6}.[a-z0-9]{16}."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    pick = lambda n: "".join(secrets.choice(alphabet) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def parse_duration(value: str) -> float:
    """Go-style duration (24h0m0s, 2h, 90m, 0) in seconds."""
    if value in ("0", "0s"):
        return 0
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", value)
    if not parts or "".join(a + b for a, b in parts) != value:
        raise Fail(f'invalid argument "{value}" for "--ttl" flag: time: invalid duration "{value}"')
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


# ---------------------------------------------------------------- init

def cmd_init(opts: argparse.Namespace) -> int:
    """kubeadm init --config FILE [--upload-certs]."""
    docs = load_config(opts.config) if opts.config else {}
    init = docs.get("InitConfiguration", {})
    cluster = docs.get("ClusterConfiguration", {})
    reg = init.get("nodeRegistration", {})
    name = reg.get("name") or opts.node_name or socket.gethostname().lower()
    if not NAME_RE.match(name):
        raise Fail(f'nodeRegistration.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                   "lower case alphanumeric characters, '-' or '.'")
    endpoint_cfg = init.get("localAPIEndpoint", {})
    ip = opts.apiserver_advertise_address or endpoint_cfg.get("advertiseAddress") or default_ip()
    port = int(endpoint_cfg.get("bindPort", 6443))
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise Fail(f'localAPIEndpoint.advertiseAddress: Invalid value: "{ip}": must be a valid IP address') from None
    if ip not in standin.node_addresses():
        raise Fail(f"the advertise address {ip} is not assigned to any interface of this node")
    version = check_version(cluster.get("kubernetesVersion") or opts.kubernetes_version or "v" + standin.KUBE_VERSION)
    net = cluster.get("networking", {})
    service_cidr = net.get("serviceSubnet", "10.96.0.0/12")
    check_cidr(service_cidr, "networking.serviceSubnet")
    if net.get("podSubnet"):
        check_cidr(net["podSubnet"], "networking.podSubnet")
    dns_domain = net.get("dnsDomain", "cluster.local")
    cpe = cluster.get("controlPlaneEndpoint") or opts.control_plane_endpoint or ""
    host, ep_port = endpoint_of(cpe, port) if cpe else (ip, port)
    endpoint = f"{host}:{ep_port}"
    cluster_name = cluster.get("clusterName", "kubernetes")
    cri = reg.get("criSocket", DEFAULT_CRI)
    ignored = ignored_set(opts.ignore_preflight_errors) | set(reg.get("ignorePreflightErrors") or [])
    print(f"[init] Using Kubernetes version: {version}\n[preflight] Running pre-flight checks")
    preflight(ignored, files_absent=[standin.ADMIN_CONF, standin.KUBELET_CONF,
                                     standin.KDIR / "manifests/kube-apiserver.yaml"], port=port, cri=cri)
    standin.PKI.mkdir(parents=True, exist_ok=True)
    if not (standin.PKI / "ca.crt").exists():
        print('[certs] Generating "ca" certificate and key')
        standin.new_ca(standin.PKI / "ca.crt", standin.PKI / "ca.key")
    else:
        print("[certs] Using the existing \"ca\" certificate and key")
    print(f'[certs] apiserver serving cert is signed for DNS names and IPs [{ip} {host}]')
    control_plane_certs(ip, endpoint, service_cidr, name, dns_domain, cluster.get("apiServer", {}).get("certSANs") or [],
                        cluster_name)
    node_key = standin.PKI / "kubelet-client.key"
    standin.new_key(node_key)
    cert = standin.sign(standin.csr(node_key, f"/O=system:nodes/CN=system:node:{name}"), standin.PKI / "ca.crt",
                        standin.PKI / "ca.key", client=True)
    kubelet_conf(endpoint, name, cert, node_key, cluster_name)
    print('[kubeconfig] Writing "admin.conf" kubeconfig file\n[kubeconfig] Writing "kubelet.conf" kubeconfig file')
    manifests = standin.KDIR / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    (manifests / "kube-apiserver.yaml").write_text("# TEST DOUBLE: the lab's stand-in API server runs as "
                                                   "kube-apiserver-standin.service\n")
    (standin.STANDIN_DIR).mkdir(parents=True, exist_ok=True)
    (standin.STANDIN_DIR / "cluster.json").write_text(json.dumps({
        "endpoint": endpoint, "clusterName": cluster_name, "kubernetesVersion": version, "config": docs}, indent=1))
    token = new_token()
    cert_key = secrets.token_hex(32) if opts.upload_certs else None
    store = {"nodes": {name: {"name": name, "ip": node_ip_from_kubelet_args(ip), "role": "control-plane",
                              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}},
             "tokens": {token.split(".")[0]: {"secret": token.split(".")[1], "expires": time.time() + 86400,
                                              "description": "kubeadm init"}},
             "certkey": {"key": cert_key, "expires": time.time() + 7200} if cert_key else None, "objects": {},
             "cluster": {"endpoint": endpoint, "name": cluster_name}}
    STORE.parent.mkdir(parents=True, exist_ok=True)
    STORE.write_text(json.dumps(store, indent=1))
    write_kubelet_files(docs.get("KubeletConfiguration"), ip)
    print("[control-plane] Creating static Pod manifest for \"kube-apiserver\" (TEST DOUBLE: a systemd service)")
    start_apiserver({"port": port, "advertise": ip, "endpoint": endpoint, "primary": None, "store": str(STORE)})
    print("[api-check] The API server is healthy")
    wait_endpoint(endpoint)
    if cert_key:
        print('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
        print(f"[upload-certs] Using certificate key:\n{cert_key}")
    print(f"[bootstrap-token] Using token: {token}\n[addons] Applied essential addon: CoreDNS\n"
          "[addons] Applied essential addon: kube-proxy\n\nYour Kubernetes control-plane has initialized successfully!\n")
    ca_hash = standin.ca_hash((standin.PKI / "ca.crt").read_bytes())
    if cert_key:
        print("You can now join any number of control-plane nodes running the following command on each as root:\n")
        print("  " + join_command(endpoint, token, ca_hash, cert_key) + "\n")
    print("Then you can join any number of worker nodes by running the following on each as root:\n")
    print(join_command(endpoint, token, ca_hash))
    return 0


def cmd_upload_certs(opts: argparse.Namespace) -> int:
    """kubeadm init phase upload-certs --upload-certs."""
    if not opts.upload_certs:
        print("[upload-certs] Skipping phase. Please see --upload-certs")
        return 0
    key = opts.certificate_key or secrets.token_hex(32)
    if not re.fullmatch(r"[0-9a-f]{64}", key):
        raise Fail("upload-certs: error decoding certificate key: encoding/hex: invalid byte")
    standin.Client(Path(opts.kubeconfig)).call("POST", "/standin/v1/certkey", {"key": key})
    print('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
    print("[upload-certs] Using certificate key:")
    print(key)
    return 0


# ---------------------------------------------------------------- tokens

def cmd_token(opts: argparse.Namespace) -> int:
    """kubeadm token create|list|delete."""
    client = standin.Client(Path(opts.kubeconfig))
    if opts.action == "create":
        token = (opts.tokens[0] if opts.tokens else None) or new_token()
        if not re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token):
            raise Fail(f'the bootstrap token "{token}" was not of the form "^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$"')
        tid, secret = token.split(".")
        client.call("POST", "/standin/v1/tokens", {"id": tid, "secret": secret, "ttl": parse_duration(opts.ttl),
                                                   "description": opts.description or ""})
        if opts.print_join_command:
            ca = Path(opts.kubeconfig)
            cfg = yaml.safe_load(ca.read_text())
            cluster = cfg["clusters"][0]["cluster"]
            import base64
            ca_hash = standin.ca_hash(base64.b64decode(cluster["certificate-authority-data"]))
            endpoint = cluster["server"].removeprefix("https://").rstrip("/")
            print(join_command(endpoint, token, ca_hash, opts.certificate_key))
        else:
            print(token)
        return 0
    if opts.action == "list":
        items = client.call("GET", "/standin/v1/tokens")["items"]
        print("TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION")
        for item in items:
            ttl = int((item["expires"] - time.time()) / 3600)
            exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item["expires"]))
            print(f"{item['token']:<25} {ttl}h{'':<9} {exp}   authentication,signing   <none>")
        return 0
    if opts.action == "delete":
        for token in opts.tokens:
            tid = token.split(".")[0]
            client.call("DELETE", f"/standin/v1/tokens/{tid}")
            print(f'bootstrap token "{tid}" deleted')
        return 0
    raise Fail(f"unknown command {opts.action!r} for \"kubeadm token\"")


# ---------------------------------------------------------------- join

def discover(endpoint: str, ca_hashes: list[str], unsafe: bool, token: str) -> bytes:
    """Fetch cluster-info over TLS (unverified, like kubeadm), pin the CA by hash; return the CA."""
    import base64
    insecure = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    url = f"https://{endpoint}/api/v1/namespaces/kube-public/configmaps/cluster-info"
    deadline = time.time() + 60
    while True:
        try:
            info = standin.request(insecure, "GET", url, timeout=5)
            break
        except Fail as exc:
            if time.time() > deadline:
                raise Fail(f"couldn't validate the identity of the API Server: {exc}") from None
            time.sleep(1)
    kcfg = json.loads(info["data"]["kubeconfig"])
    ca = base64.b64decode(kcfg["clusters"][0]["cluster"]["certificate-authority-data"])
    actual = standin.ca_hash(ca)
    if not unsafe and actual not in ca_hashes:
        raise Fail(f"couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is "
                   f"invalid: none of the public keys \"{actual}\" are pinned")
    print(f'[discovery] Cluster info signature and contents are valid and TLS certificate validates against pinned '
          f'roots, will use API Server "{endpoint}"')
    return ca


def cmd_join(opts: argparse.Namespace) -> int:
    """kubeadm join ENDPOINT --token T --discovery-token-ca-cert-hash H [--control-plane ...]."""
    docs = load_config(opts.config) if opts.config else {}
    jc = docs.get("JoinConfiguration", {})
    reg = jc.get("nodeRegistration", {})
    endpoint = opts.endpoint or (jc.get("discovery", {}).get("bootstrapToken", {}).get("apiServerEndpoint"))
    token = opts.token or opts.discovery_token or jc.get("discovery", {}).get("bootstrapToken", {}).get("token")
    hashes = opts.discovery_token_ca_cert_hash or jc.get("discovery", {}).get("bootstrapToken", {}).get("caCertHashes", [])
    control_plane = opts.control_plane or "controlPlane" in jc
    if not endpoint:
        raise Fail("discovery.bootstrapToken.apiServerEndpoint: Required value: the API server endpoint is required")
    if not token or not re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token):
        raise Fail(f'discovery.bootstrapToken.token: Invalid value: "{token or ""}": the bootstrap token is invalid')
    if not hashes and not opts.discovery_token_unsafe_skip_ca_verification:
        raise Fail("discovery.bootstrapToken.caCertHashes: Invalid value: \"\": using token-based discovery without "
                   "caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or "
                   "pass --discovery-token-unsafe-skip-ca-verification flag to continue")
    for h in hashes:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", h):
            raise Fail(f'invalid hash "{h}", expected a "sha256:" prefixed hex digest')
    cert_key = opts.certificate_key or jc.get("controlPlane", {}).get("certificateKey")
    if control_plane and not cert_key:
        raise Fail("the --certificate-key flag is required when joining a control plane node with kubeadm "
                   "(or copy the certificates by hand)")
    if cert_key and not re.fullmatch(r"[0-9a-f]{64}", cert_key):
        raise Fail("error decoding certificate key: encoding/hex: invalid byte")
    name = opts.node_name or reg.get("name") or socket.gethostname().lower()
    local = jc.get("controlPlane", {}).get("localAPIEndpoint", {})
    adv = opts.apiserver_advertise_address or local.get("advertiseAddress")
    port = int(opts.apiserver_bind_port or local.get("bindPort") or 6443)
    if control_plane:
        adv = adv or default_ip()
        if adv not in standin.node_addresses():
            raise Fail(f"the advertise address {adv} is not assigned to any interface of this node")
    ignored = ignored_set(opts.ignore_preflight_errors) | set(reg.get("ignorePreflightErrors") or [])
    print("[preflight] Running pre-flight checks")
    preflight(ignored, files_absent=[standin.KUBELET_CONF, standin.PKI / "ca.crt"] +
              ([standin.ADMIN_CONF] if control_plane else []), port=port if control_plane else None,
              cri=opts.cri_socket or reg.get("criSocket", DEFAULT_CRI))
    ca = discover(endpoint, hashes, opts.discovery_token_unsafe_skip_ca_verification, token)
    standin.PKI.mkdir(parents=True, exist_ok=True)
    ca_path = standin.PKI / "ca.crt"
    ca_path.write_bytes(ca)
    try:
        key = standin.PKI / "kubelet-client.key"
        standin.new_key(key)
        ctx = ssl.create_default_context(cafile=str(ca_path))
        ip = node_ip_from_kubelet_args(adv or default_ip())
        reply = standin.request(ctx, "POST", f"https://{endpoint}/standin/v1/join",
                                {"name": name, "role": "control-plane" if control_plane else "worker", "ip": ip,
                                 "certificateKey": cert_key,
                                 "csr": standin.csr(key, f"/O=system:nodes/CN=system:node:{name}").decode()},
                                headers={"Authorization": f"Bearer {token}"})
    except Exception:
        ca_path.unlink(missing_ok=True)
        raise
    cluster_name = "kubernetes"
    if control_plane:
        print("[download-certs] Downloading the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" "
              "Namespace")
        standin.write_private(standin.PKI / "ca.key", reply["ca_key"])
        control_plane_certs(adv, endpoint, "10.96.0.0/12", name, "cluster.local", [], cluster_name)
        start_apiserver({"port": port, "advertise": adv, "endpoint": endpoint, "primary": reply["primary"],
                         "store": str(STORE)})
        wait_endpoint(endpoint)
    kubelet_conf(endpoint, name, reply["kubelet_cert"].encode(), standin.PKI / "kubelet-client.key", cluster_name)
    write_kubelet_files(None, ip)
    print("[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"\n"
          "[kubelet-start] Starting the kubelet\n\nThis node has joined the cluster:\n"
          "* Certificate signing request was sent to apiserver and a response was received.\n"
          "* The Kubelet was informed of the new secure connection details.\n")
    if control_plane:
        print("* Control plane label and taint were applied to the new node.\n"
              "* The Kubernetes control plane instances scaled up.\n")
    print("Run 'kubectl get nodes' on the control-plane to see this node join the cluster.")
    return 0


# ---------------------------------------------------------------- misc

def cmd_reset(opts: argparse.Namespace) -> int:
    """kubeadm reset: stop the stand-in API server, remove what init/join wrote."""
    if not opts.force:
        raise Fail("reset: refusing without --force in this stand-in (no terminal to confirm)")
    standin.systemctl("disable", "--now", standin.APISERVER_UNIT.name)
    standin.APISERVER_UNIT.unlink(missing_ok=True)
    standin.systemctl("daemon-reload")
    import shutil
    for path in (standin.PKI, standin.STANDIN_DIR, standin.KDIR / "manifests", Path("/var/lib/k8s-standin")):
        shutil.rmtree(path, ignore_errors=True)
    for path in (standin.ADMIN_CONF, standin.KUBELET_CONF, standin.KDIR / "super-admin.conf",
                 Path("/var/lib/kubelet/config.yaml"), Path("/var/lib/kubelet/kubeadm-flags.env")):
        path.unlink(missing_ok=True)
    print("[reset] Deleted contents of: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]")
    return 0


def cmd_version(opts: argparse.Namespace) -> int:
    """kubeadm version [-o short|json|yaml]."""
    v = "v" + standin.KUBE_VERSION
    major, minor, _ = standin.KUBE_VERSION.split(".")
    info = {"major": major, "minor": minor, "gitVersion": v, "platform": "linux/amd64"}
    if opts.output == "short":
        print(v)
    elif opts.output == "json":
        print(json.dumps({"clientVersion": info}, indent=2))
    elif opts.output == "yaml":
        print(yaml.safe_dump({"clientVersion": info}))
    else:
        print(f'kubeadm version: &version.Info{{Major:"{major}", Minor:"{minor}", GitVersion:"{v}", '
              'Platform:"linux/amd64", Note:"TEST DOUBLE (lab stand-in)"}')
    return 0


def cmd_images(opts: argparse.Namespace) -> int:
    """kubeadm config images list|pull: the image names (pull is a no-op here)."""
    repo, version = "registry.k8s.io", "v" + standin.KUBE_VERSION
    if opts.config:
        cluster = load_config(opts.config).get("ClusterConfiguration", {})
        repo = cluster.get("imageRepository", repo)
        version = check_version(cluster.get("kubernetesVersion", version))
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        image = f"{repo}/{comp}:{version}"
        print(f"[config/images] Pulled {image}" if opts.action == "pull" else image)
    return 0


def cmd_certkey(opts: argparse.Namespace) -> int:
    """kubeadm certs certificate-key."""
    print(secrets.token_hex(32))
    return 0


def parser() -> argparse.ArgumentParser:
    """The subset of kubeadm's command line the stand-in understands."""
    p = argparse.ArgumentParser(prog="kubeadm", description="TEST DOUBLE of kubeadm (lab stand-in)")
    p.add_argument("-v", "--v", dest="verbosity", default="0")
    sub = p.add_subparsers(dest="cmd", required=True)

    init = sub.add_parser("init")
    init.add_argument("--config")
    init.add_argument("--upload-certs", action="store_true")
    init.add_argument("--certificate-key")
    init.add_argument("--skip-phases", action="append", default=[])
    init.add_argument("--ignore-preflight-errors", action="append", default=[])
    init.add_argument("--node-name")
    init.add_argument("--apiserver-advertise-address")
    init.add_argument("--control-plane-endpoint")
    init.add_argument("--kubernetes-version")
    init.add_argument("--pod-network-cidr")
    init.add_argument("--kubeconfig", default=str(standin.ADMIN_CONF))
    init.add_argument("-v", "--v", dest="verbosity", default="0")
    init.add_argument("phase_args", nargs="*")

    token = sub.add_parser("token")
    token.add_argument("action", choices=["create", "list", "delete", "generate"])
    token.add_argument("tokens", nargs="*")
    token.add_argument("--print-join-command", action="store_true")
    token.add_argument("--ttl", default="24h0m0s")
    token.add_argument("--description")
    token.add_argument("--certificate-key")
    token.add_argument("--kubeconfig", default=str(standin.ADMIN_CONF))
    token.add_argument("-v", "--v", dest="verbosity", default="0")

    join = sub.add_parser("join")
    join.add_argument("endpoint", nargs="?")
    join.add_argument("--config")
    join.add_argument("--token")
    join.add_argument("--discovery-token")
    join.add_argument("--discovery-token-ca-cert-hash", action="append", default=[])
    join.add_argument("--discovery-token-unsafe-skip-ca-verification", action="store_true")
    join.add_argument("--control-plane", action="store_true")
    join.add_argument("--certificate-key")
    join.add_argument("--apiserver-advertise-address")
    join.add_argument("--apiserver-bind-port")
    join.add_argument("--node-name")
    join.add_argument("--cri-socket")
    join.add_argument("--ignore-preflight-errors", action="append", default=[])
    join.add_argument("-v", "--v", dest="verbosity", default="0")

    reset = sub.add_parser("reset")
    reset.add_argument("-f", "--force", action="store_true")
    reset.add_argument("--cri-socket")
    reset.add_argument("-v", "--v", dest="verbosity", default="0")

    version = sub.add_parser("version")
    version.add_argument("-o", "--output", default="")

    config_p = sub.add_parser("config")
    config_p.add_argument("what", choices=["images"])
    config_p.add_argument("action", choices=["list", "pull"])
    config_p.add_argument("--config")
    config_p.add_argument("--kubernetes-version")
    config_p.add_argument("--cri-socket")

    certs = sub.add_parser("certs")
    certs.add_argument("action", choices=["certificate-key"])
    return p


def main(argv: list[str]) -> int:
    """Dispatch a kubeadm command line."""
    opts = parser().parse_args(argv)
    if opts.cmd == "init":
        if opts.phase_args[:2] == ["phase", "upload-certs"]:
            return cmd_upload_certs(opts)
        if opts.phase_args:
            raise Fail(f"unknown command {' '.join(opts.phase_args)!r} for \"kubeadm init\" (stand-in)")
        return cmd_init(opts)
    handlers = {"token": cmd_token, "join": cmd_join, "reset": cmd_reset, "version": cmd_version,
                "config": cmd_images, "certs": cmd_certkey}
    return handlers[opts.cmd](opts)


if __name__ == "__main__":
    standin.main_wrapper("kubeadm", main)
