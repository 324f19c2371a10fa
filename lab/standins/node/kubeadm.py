#!/usr/bin/python3
"""TEST DOUBLE of kubeadm for the lab (not Kubernetes).

Copies what real kubeadm 1.35, 1.36 and 1.37 do (the minor is filled in at build time), each
behaviour with its upstream source in lab/standins/README.md ("kubeadm") and next to the code:
the config API decoded per apiVersion (strict decoding errors are warnings for init/join and
errors for `kubeadm config validate`, as upstream), the flags allowed beside --config, preflight
checks with real names and messages, and the phases in the real order writing the real files:
certificates, kubeconfigs, static pod manifests the stand-in kubelet runs (the real etcd and the
API server stand-in), kubelet files, then the API objects (ConfigMaps, bootstrap tokens, the
kubeadm-certs Secret, RBAC, addons). Joins discover the cluster through cluster-info (JWS and CA
pin checked), download the certificates, TLS-bootstrap through the kubelet and add etcd members
through etcd's API. /etc/kubernetes/standin-fail-after (a phase name) makes it exit 1 right after
that phase. Every call is logged to /var/log/k8s-standin.log.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402
from standin import ApiError, Fail  # noqa: E402

import yaml  # noqa: E402

# Every host path below is ROOT / <absolute path>; tests point ROOT at a scratch directory. File contents
# (manifests, kubeconfigs, kubelet files) always name the real absolute paths.
ROOT = Path("/")
KDIR = "/etc/kubernetes"
PKI = "/etc/kubernetes/pki"
MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_DIR = "/var/lib/kubelet"
FAIL_AFTER = "/etc/kubernetes/standin-fail-after"  # lab switch (issue 10 design decisions)
# Lab switch (issue 11): a number of days; leaf certificates issued while it exists (init, join, certs renew)
# are valid that long instead of certificateValidityPeriod, so a drill can make them expire soon.
CERT_DAYS = "/etc/kubernetes/standin-cert-days"
DEFAULT_CRI = "unix:///var/run/containerd/containerd.sock"  # constants_unix.go DefaultCRISocket
STABLE_URL = "https://dl.k8s.io/release/{label}.txt"  # cmd/kubeadm/app/util/version.go
RELEASE_TIMEOUT = 10.0  # version.go getReleaseVersionTimeout
# Images per minor: kubeadm constants.go (DefaultEtcdVersion, PauseVersion, CoreDNSVersion); notes §2 (the
# minikube table generated from `kubeadm config images list` at each tag; 1.37 from v1.37.0-rc.0).
IMAGES = {35: {"pause": "3.10.1", "etcd": "3.6.6-0", "coredns": "v1.13.1"},
          36: {"pause": "3.10.2", "etcd": "3.6.8-0", "coredns": "v1.14.2"},
          37: {"pause": "3.10.2", "etcd": "3.7.0-0", "coredns": "v1.14.6"}}
# The release after which kubeadm's ContainerRuntimeVersion warning says the cgroupDriver fallback goes away:
# PR #134906 (1.35: "1.36"), PR #136898 (1.36: "1.37"), PR #139121 (1.37: "1.38").
RUNTIME_CONFIG_REMOVAL = {35: "1.36", 36: "1.37", 37: "1.38"}
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")  # k8s.io/cluster-bootstrap token/api BootstrapTokenPattern
TOKEN_PATTERN = r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z"
DEFAULT_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
CONTROL_PLANE_TAINT = {"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}


MINOR_OVERRIDE = 0  # decode(text, version) validates for another minor than this build's


def host(path: str) -> Path:
    """Where an absolute node path lives (ROOT-relative)."""
    return ROOT / path.lstrip("/")


def kube_minor() -> int:
    """This build's minor (the source tree's placeholder counts as the newest supported one; decode() may pick)."""
    if MINOR_OVERRIDE:
        return MINOR_OVERRIDE
    return 37 if standin.KUBE_VERSION.startswith("@") else standin.minor()


def kubeadm_version() -> str:
    """vX.Y.Z of this build."""
    return "v" + ("1.37.1" if standin.KUBE_VERSION.startswith("@") else standin.KUBE_VERSION)


# ---------------------------------------------------------------- output and errors

class PhaseError(Fail):
    """A phase failed: kubeadm's workflow runner says `error execution phase <name>: <err>`."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(f"error execution phase {phase}: {message}")


def say(text: str = "") -> None:
    """One line on stdout, as kubeadm's fmt.Printf/Println progress lines."""
    print(text, flush=True)


def klog(level: str, where: str, message: str) -> None:
    """A klog line on stderr (`W1201 07:00:00.123456    4242 file.go:42] message`)."""
    now = time.time()
    stamp = time.strftime("%m%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"
    print(f"{level}{stamp} {os.getpid():>7} {where}] {message}", file=sys.stderr, flush=True)


def go_duration(value: str) -> float:
    """Seconds of a Go duration ("4m0s", "2h", "1.5s"); ValueError like time.ParseDuration."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    if value in ("0", ""):
        if value == "":
            raise ValueError('time: invalid duration ""')
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", value.lstrip("+-"))
    if not parts or "".join(n + u for n, u in parts) != value.lstrip("+-"):
        raise ValueError(f'time: invalid duration "{value}"')
    total = sum(float(n) * units[u] for n, u in parts)
    return -total if value.startswith("-") else total


def format_duration(seconds: float) -> str:
    """A duration as Go prints it (24h0m0s, 4m0s, 5s)."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


# ---------------------------------------------------------------- the config API (schemas)

class S:
    """A Go struct of a config API: its qualified type name and its JSON fields (name -> Go type or S)."""

    def __init__(self, name: str, fields: dict[str, Any]) -> None:
        self.name = name
        self.fields = fields

    @property
    def short(self) -> str:
        """The type name without package, as encoding/json's UnmarshalTypeError names it."""
        return self.name.rsplit(".", 1)[-1]

    def plus(self, name: str, **fields: Any) -> "S":
        """A copy with more fields (and another name)."""
        return S(name, {**self.fields, **fields})

    def minus(self, name: str, *drop: str) -> "S":
        """A copy without some fields (and another name)."""
        return S(name, {k: v for k, v in self.fields.items() if k not in drop})


TYPE_META = {"apiVersion": "string", "kind": "string"}
# core/v1 types kubeadm embeds (k8s.io/api/core/v1 types.go)
TAINT = S("v1.Taint", {"key": "string", "value": "string", "effect": "v1.TaintEffect:string",
                       "timeAdded": "*metav1.Time"})
ENV_VAR = S("v1beta4.EnvVar", {"name": "string", "value": "string", "valueFrom": "*v1.EnvVarSource"})

# kubeadm.k8s.io/v1beta4 — cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go (field set as in kubeadm 1.35-1.37; the
# same as the type mirrors kubernetes-sigs/cluster-api bootstrap/kubeadm/pkg/types/upstreamv1beta4 and
# tengqm/kubeconfig config/kubeadm/v1beta4 keep) and bootstraptoken/v1 types.go.
ARG = S("v1beta4.Arg", {"name": "string", "value": "string"})
HOST_PATH_MOUNT = S("v1beta4.HostPathMount", {"name": "string", "hostPath": "string", "mountPath": "string",
                                              "readOnly": "bool", "pathType": "v1.HostPathType:string"})
API_ENDPOINT = S("v1beta4.APIEndpoint", {"advertiseAddress": "string", "bindPort": "int32"})
PATCHES = S("v1beta4.Patches", {"directory": "string"})
TIMEOUTS = S("v1beta4.Timeouts", {k: "*metav1.Duration" for k in (
    "controlPlaneComponentHealthCheck", "kubeletHealthCheck", "kubernetesAPICall", "etcdAPICall", "tlsBootstrap",
    "discovery", "upgradeManifests")})
BOOTSTRAP_TOKEN = S("v1.BootstrapToken", {"token": "*v1.BootstrapTokenString", "description": "string",
                                          "ttl": "*metav1.Duration", "expires": "*metav1.Time", "usages": "[]string",
                                          "groups": "[]string"})
NODE_REGISTRATION = S("v1beta4.NodeRegistrationOptions", {
    "name": "string", "criSocket": "string", "taints": ("[]v1.Taint", TAINT),
    "kubeletExtraArgs": ("[]v1beta4.Arg", ARG), "ignorePreflightErrors": "[]string",
    "imagePullPolicy": "v1.PullPolicy:string", "imagePullSerial": "*bool"})
COMPONENT = S("v1beta4.ControlPlaneComponent", {"extraArgs": ("[]v1beta4.Arg", ARG),
                                                "extraVolumes": ("[]v1beta4.HostPathMount", HOST_PATH_MOUNT),
                                                "extraEnvs": ("[]v1beta4.EnvVar", ENV_VAR)})
IMAGE_META = {"imageRepository": "string", "imageTag": "string"}
CLUSTER_V1BETA4 = S("v1beta4.ClusterConfiguration", {
    **TYPE_META,
    "etcd": S("v1beta4.Etcd", {
        "local": S("v1beta4.LocalEtcd", {**IMAGE_META, "dataDir": "string", "extraArgs": ("[]v1beta4.Arg", ARG),
                                         "extraEnvs": ("[]v1beta4.EnvVar", ENV_VAR), "serverCertSANs": "[]string",
                                         "peerCertSANs": "[]string"}),
        "external": S("v1beta4.ExternalEtcd", {"endpoints": "[]string", "caFile": "string", "certFile": "string",
                                               "keyFile": "string"})}),
    "networking": S("v1beta4.Networking", {"serviceSubnet": "string", "podSubnet": "string", "dnsDomain": "string"}),
    "kubernetesVersion": "string", "controlPlaneEndpoint": "string",
    "apiServer": COMPONENT.plus("v1beta4.APIServer", certSANs="[]string"),
    "controllerManager": COMPONENT, "scheduler": COMPONENT,
    "dns": S("v1beta4.DNS", {**IMAGE_META, "disabled": "bool"}),
    "proxy": S("v1beta4.Proxy", {"disabled": "bool"}),
    "certificatesDir": "string", "imageRepository": "string", "featureGates": "map[string]bool",
    "clusterName": "string", "encryptionAlgorithm": "v1beta4.EncryptionAlgorithmType:string",
    "certificateValidityPeriod": "*metav1.Duration", "caCertificateValidityPeriod": "*metav1.Duration"})
INIT_V1BETA4 = S("v1beta4.InitConfiguration", {
    **TYPE_META, "bootstrapTokens": ("[]v1.BootstrapToken", BOOTSTRAP_TOKEN), "dryRun": "bool",
    "nodeRegistration": NODE_REGISTRATION, "localAPIEndpoint": API_ENDPOINT, "certificateKey": "string",
    "skipPhases": "[]string", "patches": PATCHES, "timeouts": TIMEOUTS})
JOIN_V1BETA4 = S("v1beta4.JoinConfiguration", {
    **TYPE_META, "dryRun": "bool", "nodeRegistration": NODE_REGISTRATION, "caCertPath": "string",
    "discovery": S("v1beta4.Discovery", {
        "bootstrapToken": S("v1beta4.BootstrapTokenDiscovery", {
            "token": "string", "apiServerEndpoint": "string", "caCertHashes": "[]string",
            "unsafeSkipCAVerification": "bool"}),
        "file": S("v1beta4.FileDiscovery", {"kubeConfigPath": "string"}),
        "tlsBootstrapToken": "string"}),
    "controlPlane": S("v1beta4.JoinControlPlane", {"localAPIEndpoint": API_ENDPOINT, "certificateKey": "string"}),
    "skipPhases": "[]string", "patches": PATCHES, "timeouts": TIMEOUTS})
RESET_V1BETA4 = S("v1beta4.ResetConfiguration", {
    **TYPE_META, "cleanupTmpDir": "bool", "certificatesDir": "string", "criSocket": "string", "dryRun": "bool",
    "force": "bool", "ignorePreflightErrors": "[]string", "skipPhases": "[]string", "unmountFlags": "[]string",
    "timeouts": TIMEOUTS})
_UPGRADE_COMMON = {"dryRun": "*bool", "ignorePreflightErrors": "[]string"}
UPGRADE_V1BETA4 = S("v1beta4.UpgradeConfiguration", {
    **TYPE_META,
    "apply": S("v1beta4.UpgradeApplyConfiguration", {
        **_UPGRADE_COMMON, "kubernetesVersion": "string", "allowExperimentalUpgrades": "*bool",
        "allowRCUpgrades": "*bool", "certificateRenewal": "*bool", "etcdUpgrade": "*bool", "forceUpgrade": "*bool",
        "patches": PATCHES, "printConfig": "*bool", "skipPhases": "[]string",
        "imagePullPolicy": "v1.PullPolicy:string", "imagePullSerial": "*bool"}),
    "diff": S("v1beta4.UpgradeDiffConfiguration", {"kubernetesVersion": "string", "contextLines": "int"}),
    "node": S("v1beta4.UpgradeNodeConfiguration", {
        **_UPGRADE_COMMON, "certificateRenewal": "*bool", "etcdUpgrade": "*bool", "skipPhases": "[]string",
        "patches": PATCHES, "imagePullPolicy": "v1.PullPolicy:string", "imagePullSerial": "*bool"}),
    "plan": S("v1beta4.UpgradePlanConfiguration", {
        **_UPGRADE_COMMON, "kubernetesVersion": "string", "allowExperimentalUpgrades": "*bool",
        "allowRCUpgrades": "*bool", "printConfig": "*bool"}),
    "timeouts": TIMEOUTS})

# kubeadm.k8s.io/v1beta3 (read by kubeadm 1.35 only; removed in 1.36 by PR #136016) — v1beta3/types.go, as the
# cluster-api mirror bootstrap/kubeadm/pkg/types/upstreamv1beta3/types.go keeps it: extraArgs are maps, no
# timeouts/extraEnvs/dryRun/encryptionAlgorithm/validity periods/dns.disabled/proxy/imagePullSerial,
# apiServer.timeoutForControlPlane and discovery.timeout instead of v1beta4's timeouts.
NODE_REGISTRATION_V1BETA3 = S("v1beta3.NodeRegistrationOptions", {
    **{k: v for k, v in NODE_REGISTRATION.fields.items() if k != "imagePullSerial"},
    "kubeletExtraArgs": "map[string]string"})
COMPONENT_V1BETA3 = S("v1beta3.ControlPlaneComponent", {
    "extraArgs": "map[string]string", "extraVolumes": ("[]v1beta3.HostPathMount", HOST_PATH_MOUNT)})
CLUSTER_V1BETA3 = S("v1beta3.ClusterConfiguration", {
    **{k: v for k, v in CLUSTER_V1BETA4.fields.items() if k not in (
        "proxy", "encryptionAlgorithm", "certificateValidityPeriod", "caCertificateValidityPeriod")},
    "etcd": S("v1beta3.Etcd", {
        "local": S("v1beta3.LocalEtcd", {**IMAGE_META, "dataDir": "string", "extraArgs": "map[string]string",
                                         "serverCertSANs": "[]string", "peerCertSANs": "[]string"}),
        "external": CLUSTER_V1BETA4.fields["etcd"].fields["external"]}),
    "apiServer": COMPONENT_V1BETA3.plus("v1beta3.APIServer", certSANs="[]string",
                                        timeoutForControlPlane="*metav1.Duration"),
    "controllerManager": COMPONENT_V1BETA3, "scheduler": COMPONENT_V1BETA3,
    "dns": S("v1beta3.DNS", dict(IMAGE_META))})
INIT_V1BETA3 = S("v1beta3.InitConfiguration", {
    **TYPE_META, "bootstrapTokens": ("[]v1.BootstrapToken", BOOTSTRAP_TOKEN),
    "nodeRegistration": NODE_REGISTRATION_V1BETA3, "localAPIEndpoint": API_ENDPOINT, "certificateKey": "string",
    "skipPhases": "[]string", "patches": PATCHES})
JOIN_V1BETA3 = S("v1beta3.JoinConfiguration", {
    **TYPE_META, "nodeRegistration": NODE_REGISTRATION_V1BETA3, "caCertPath": "string",
    "discovery": JOIN_V1BETA4.fields["discovery"].plus("v1beta3.Discovery", timeout="*metav1.Duration"),
    "controlPlane": JOIN_V1BETA4.fields["controlPlane"], "skipPhases": "[]string", "patches": PATCHES})

# kubelet.config.k8s.io/v1beta1 — kubernetes/kubelet config/v1beta1/types.go at kubernetes-1.35.7,
# kubernetes-1.36.3 and kubernetes-1.37.0-beta.0 (generated from the staging repository; KUBELET_SINCE lists
# the fields 1.35 does not have).
KUBELET_SINCE = {"memoryReservationPolicy": 36, "tlsCurvePreferences": 36}
KUBELET_CONFIGURATION = S("v1beta1.KubeletConfiguration", {
    **TYPE_META,
    "enableServer": "*bool", "staticPodPath": "string", "podLogsDir": "string", "syncFrequency": "metav1.Duration",
    "fileCheckFrequency": "metav1.Duration", "httpCheckFrequency": "metav1.Duration", "staticPodURL": "string",
    "staticPodURLHeader": "map[string][]string", "address": "string", "port": "int32", "readOnlyPort": "int32",
    "tlsCertFile": "string", "tlsPrivateKeyFile": "string", "tlsCipherSuites": "[]string",
    "tlsCurvePreferences": "[]int32", "tlsMinVersion": "string", "rotateCertificates": "bool",
    "serverTLSBootstrap": "bool",
    "authentication": S("v1beta1.KubeletAuthentication", {
        "x509": S("v1beta1.KubeletX509Authentication", {"clientCAFile": "string"}),
        "webhook": S("v1beta1.KubeletWebhookAuthentication", {"enabled": "*bool", "cacheTTL": "metav1.Duration"}),
        "anonymous": S("v1beta1.KubeletAnonymousAuthentication", {"enabled": "*bool"})}),
    "authorization": S("v1beta1.KubeletAuthorization", {
        "mode": "v1beta1.KubeletAuthorizationMode:string",
        "webhook": S("v1beta1.KubeletWebhookAuthorization", {"cacheAuthorizedTTL": "metav1.Duration",
                                                             "cacheUnauthorizedTTL": "metav1.Duration"})}),
    "registryPullQPS": "*int32", "registryBurst": "int32",
    "imagePullCredentialsVerificationPolicy": "v1beta1.ImagePullCredentialsVerificationPolicy:string",
    "preloadedImagesVerificationAllowlist": "[]string", "eventRecordQPS": "*int32", "eventBurst": "int32",
    "enableDebuggingHandlers": "*bool", "enableContentionProfiling": "bool", "healthzPort": "*int32",
    "healthzBindAddress": "string", "oomScoreAdj": "*int32", "clusterDomain": "string", "clusterDNS": "[]string",
    "streamingConnectionIdleTimeout": "metav1.Duration", "nodeStatusUpdateFrequency": "metav1.Duration",
    "nodeStatusReportFrequency": "metav1.Duration", "nodeLeaseDurationSeconds": "int32",
    "imageMinimumGCAge": "metav1.Duration", "imageMaximumGCAge": "metav1.Duration",
    "imageGCHighThresholdPercent": "*int32", "imageGCLowThresholdPercent": "*int32",
    "volumeStatsAggPeriod": "metav1.Duration", "kubeletCgroups": "string", "systemCgroups": "string",
    "cgroupRoot": "string", "cgroupsPerQOS": "*bool", "cgroupDriver": "string", "cpuManagerPolicy": "string",
    "singleProcessOOMKill": "*bool", "cpuManagerPolicyOptions": "map[string]string",
    "cpuManagerReconcilePeriod": "metav1.Duration", "memoryManagerPolicy": "string",
    "topologyManagerPolicy": "string", "topologyManagerScope": "string",
    "topologyManagerPolicyOptions": "map[string]string", "qosReserved": "map[string]string",
    "runtimeRequestTimeout": "metav1.Duration", "hairpinMode": "string", "maxPods": "int32", "podCIDR": "string",
    "podPidsLimit": "*int64", "resolvConf": "*string", "runOnce": "bool", "cpuCFSQuota": "*bool",
    "cpuCFSQuotaPeriod": "*metav1.Duration", "nodeStatusMaxImages": "*int32", "maxOpenFiles": "int64",
    "contentType": "string", "kubeAPIQPS": "*int32", "kubeAPIBurst": "int32", "serializeImagePulls": "*bool",
    "maxParallelImagePulls": "*int32", "evictionHard": "map[string]string", "evictionSoft": "map[string]string",
    "evictionSoftGracePeriod": "map[string]string", "evictionPressureTransitionPeriod": "metav1.Duration",
    "evictionMaxPodGracePeriod": "int32", "evictionMinimumReclaim": "map[string]string",
    "mergeDefaultEvictionSettings": "*bool", "podsPerCore": "int32", "enableControllerAttachDetach": "*bool",
    "protectKernelDefaults": "bool", "makeIPTablesUtilChains": "*bool", "iptablesMasqueradeBit": "*int32",
    "iptablesDropBit": "*int32", "featureGates": "map[string]bool", "failSwapOn": "*bool",
    "memorySwap": S("v1beta1.MemorySwapConfiguration", {"swapBehavior": "string"}),
    "containerLogMaxSize": "string", "containerLogMaxFiles": "*int32", "containerLogMaxWorkers": "*int32",
    "containerLogMonitorInterval": "*metav1.Duration",
    "configMapAndSecretChangeDetectionStrategy": "v1beta1.ResourceChangeDetectionStrategy:string",
    "systemReserved": "map[string]string", "kubeReserved": "map[string]string", "reservedSystemCPUs": "string",
    "showHiddenMetricsForVersion": "string", "systemReservedCgroup": "string", "kubeReservedCgroup": "string",
    "enforceNodeAllocatable": "[]string", "allowedUnsafeSysctls": "[]string", "volumePluginDir": "string",
    "providerID": "string", "kernelMemcgNotification": "bool", "logging": "logsapi.LoggingConfiguration",
    "enableSystemLogHandler": "*bool", "enableSystemLogQuery": "*bool", "shutdownGracePeriod": "metav1.Duration",
    "shutdownGracePeriodCriticalPods": "metav1.Duration",
    "shutdownGracePeriodByPodPriority": ("[]v1beta1.ShutdownGracePeriodByPodPriority", S(
        "v1beta1.ShutdownGracePeriodByPodPriority", {"priority": "int32", "shutdownGracePeriodSeconds": "int64"})),
    "crashLoopBackOff": S("v1beta1.CrashLoopBackOffConfig", {"maxContainerRestartPeriod": "*metav1.Duration"}),
    "reservedMemory": ("[]v1beta1.MemoryReservation", S("v1beta1.MemoryReservation", {
        "numaNode": "int32", "limits": "v1.ResourceList"})),
    "enableProfilingHandler": "*bool", "enableDebugFlagsHandler": "*bool", "seccompDefault": "*bool",
    "memoryThrottlingFactor": "*float64", "memoryReservationPolicy": "v1beta1.MemoryReservationPolicy:string",
    "registerWithTaints": ("[]v1.Taint", TAINT), "registerNode": "*bool",
    "tracing": "*tracingapi.TracingConfiguration", "localStorageCapacityIsolation": "*bool",
    "containerRuntimeEndpoint": "string", "imageServiceEndpoint": "string", "failCgroupV1": "*bool",
    "userNamespaces": S("v1beta1.UserNamespaces", {"idsPerPod": "*int64"})})
# kubeproxy.config.k8s.io/v1alpha1 — kubernetes/kube-proxy config/v1alpha1/types.go (the same at the three tags)
_SYNC = {"syncPeriod": "metav1.Duration", "minSyncPeriod": "metav1.Duration"}
KUBE_PROXY_CONFIGURATION = S("v1alpha1.KubeProxyConfiguration", {
    **TYPE_META, "featureGates": "map[string]bool",
    "clientConnection": "componentbaseconfigv1alpha1.ClientConnectionConfiguration",
    "logging": "logsapi.LoggingConfiguration", "hostnameOverride": "string", "bindAddress": "string",
    "healthzBindAddress": "string", "metricsBindAddress": "string", "bindAddressHardFail": "bool",
    "enableProfiling": "bool", "showHiddenMetricsForVersion": "string", "mode": "v1alpha1.ProxyMode:string",
    "iptables": S("v1alpha1.KubeProxyIPTablesConfiguration", {
        "masqueradeBit": "*int32", "masqueradeAll": "bool", "localhostNodePorts": "*bool", **_SYNC}),
    "ipvs": S("v1alpha1.KubeProxyIPVSConfiguration", {
        **_SYNC, "scheduler": "string", "excludeCIDRs": "[]string", "strictARP": "bool",
        "tcpTimeout": "metav1.Duration", "tcpFinTimeout": "metav1.Duration", "udpTimeout": "metav1.Duration"}),
    "nftables": S("v1alpha1.KubeProxyNFTablesConfiguration", {"masqueradeBit": "*int32", "masqueradeAll": "bool",
                                                              **_SYNC}),
    "winkernel": S("v1alpha1.KubeProxyWinkernelConfiguration", {
        "networkName": "string", "sourceVip": "string", "enableDSR": "bool", "rootHnsEndpointName": "string",
        "forwardHealthCheckVip": "bool"}),
    "detectLocalMode": "v1alpha1.LocalMode:string",
    "detectLocal": S("v1alpha1.DetectLocalConfiguration", {"bridgeInterface": "string",
                                                           "interfaceNamePrefix": "string"}),
    "clusterCIDR": "string", "nodePortAddresses": "[]string", "oomScoreAdj": "*int32",
    "conntrack": S("v1alpha1.KubeProxyConntrackConfiguration", {
        "maxPerCore": "*int32", "min": "*int32", "tcpEstablishedTimeout": "*metav1.Duration",
        "tcpCloseWaitTimeout": "*metav1.Duration", "tcpBeLiberal": "bool", "udpTimeout": "metav1.Duration",
        "udpStreamTimeout": "metav1.Duration"}),
    "configSyncPeriod": "metav1.Duration", "portRange": "string", "windowsRunAsService": "bool"})

KUBEADM_GROUP = "kubeadm.k8s.io"
KUBEADM_SCHEME = "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"
COMPONENT_SCHEME = "k8s.io/kubernetes/cmd/kubeadm/app/componentconfigs/scheme.go:28"
COMPONENT_GROUPS = {"kubelet.config.k8s.io": ("v1beta1", "KubeletConfiguration", KUBELET_CONFIGURATION),
                    "kubeproxy.config.k8s.io": ("v1alpha1", "KubeProxyConfiguration", KUBE_PROXY_CONFIGURATION)}


def kubeadm_kinds(minor: int) -> dict[str, dict[str, S]]:
    """The kubeadm.k8s.io versions and kinds this minor's scheme registers (v1beta3 only up to 1.35)."""
    kinds = {"v1beta4": {"InitConfiguration": INIT_V1BETA4, "ClusterConfiguration": CLUSTER_V1BETA4,
                         "JoinConfiguration": JOIN_V1BETA4, "ResetConfiguration": RESET_V1BETA4,
                         "UpgradeConfiguration": UPGRADE_V1BETA4}}
    if minor <= 35:
        kinds["v1beta3"] = {"InitConfiguration": INIT_V1BETA3, "ClusterConfiguration": CLUSTER_V1BETA3,
                            "JoinConfiguration": JOIN_V1BETA3}
    return kinds


def schema_for(group: str, version: str, kind: str, minor: int) -> S | None:
    """The schema of a known group/version/kind, None if the schemes do not know it."""
    if group == KUBEADM_GROUP:
        return kubeadm_kinds(minor).get(version, {}).get(kind)
    known = COMPONENT_GROUPS.get(group)
    if known and known[0] == version and known[1] == kind:
        if kind == "KubeletConfiguration":
            return S(known[2].name, {k: v for k, v in known[2].fields.items()
                                     if KUBELET_SINCE.get(k, 0) <= minor})
        return known[2]
    return None


# ---------------------------------------------------------------- decoding (sigs.k8s.io/json strict + lenient)

class ConfigError(Fail):
    """A configuration kubeadm refuses (decode or validation error), with kubeadm's message."""


class _Loader(yaml.SafeLoader):
    """YAML that remembers duplicate keys (the strict decoder reports them; the lenient one keeps the last)."""

    duplicates: list[tuple[int, str]]  # (line in the stream, message)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            loader.duplicates.append((key_node.start_mark.line, f'key "{key}" already set in map'))
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class Document:
    """One YAML document of a config file: its group/version/kind, content and duplicate keys."""

    def __init__(self, content: dict[str, Any], duplicates: list[str]) -> None:
        self.content = content
        self.duplicates = duplicates
        api = str(content.get("apiVersion") or "")
        self.group, _, self.version = api.rpartition("/") if "/" in api else ("", "", api)
        self.kind = str(content.get("kind") or "")

    @property
    def gvk(self) -> str:
        """schema.GroupVersionKind's String(): `group/version, Kind=kind`."""
        return f"{self.group}/{self.version}, Kind={self.kind}"

    @property
    def gvk_go(self) -> str:
        """%#v of a schema.GroupVersionKind, as kubeadm's strict-decoding messages print it."""
        return f'schema.GroupVersionKind{{Group:"{self.group}", Version:"{self.version}", Kind:"{self.kind}"}}'


def split_documents(text: str) -> list[Document]:
    """kubeadmutil.SplitConfigDocuments: every document must say apiVersion and kind, each GVK once."""
    loader = _Loader(text)
    loader.duplicates = []
    docs: list[Document] = []
    try:
        while loader.check_data():
            before = len(loader.duplicates)
            start = loader.peek_event()  # kubeadm splits at "---": line numbers count from the document
            first = start.start_mark.line + (1 if getattr(start, "explicit", False) else 0)
            content = loader.get_data()
            if content is None:
                continue
            if not isinstance(content, dict):
                raise ConfigError(f"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
                                  f"{json_kind(content)} into Go value of type runtime.TypeMeta")
            docs.append(Document(content, [f"line {line - first + 1}: {message}"
                                           for line, message in loader.duplicates[before:]]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"error converting YAML to JSON: yaml: {line}{problem}") from None
    finally:
        loader.dispose()
    seen: set[str] = set()
    errors = []
    for doc in docs:
        if not doc.group or not doc.version or not doc.kind:
            raise ConfigError(f"invalid configuration for GroupVersionKind {doc.gvk}: kind and apiVersion is mandatory "
                              "information that must be specified")
        if doc.gvk in seen:
            errors.append(f"invalid configuration: GroupVersionKind {doc.gvk} is specified twice in YAML file")
        seen.add(doc.gvk)
    if errors:
        raise ConfigError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return docs


def json_kind(value: Any) -> str:
    """How encoding/json names a JSON value in UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: Any, struct: S, path: str, go_type: str) -> ConfigError:
    return ConfigError(f"json: cannot unmarshal {json_kind(value)} into Go struct field {struct.short}.{path} of "
                       f"type {go_type.split(':')[0].lstrip('*')}")


def check_value(value: Any, typ: Any, path: str, struct: S, unknown: list[str]) -> None:
    """Decode value as Go type typ: the first type error raises; unknown fields are collected (strict errors)."""
    if value is None:
        return  # JSON null leaves a Go field unset
    if isinstance(typ, S):
        if not isinstance(value, dict):
            raise _type_error(value, struct, path, typ.name)
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in typ.fields:
                unknown.append(f'unknown field "{sub}"')
                continue
            check_value(item, typ.fields[key], sub, typ, unknown)
        return
    if isinstance(typ, tuple):  # ([]pkg.T, S)
        go, elem = typ
        if not isinstance(value, list):
            raise _type_error(value, struct, path, go)
        for i, item in enumerate(value):
            if not isinstance(item, dict) and item is not None:
                raise _type_error(item, struct, path, elem.name)
            for key, sub_value in (item or {}).items():
                sub = f"{path}[{i}].{key}"
                if key not in elem.fields:
                    unknown.append(f'unknown field "{sub}"')
                    continue
                check_value(sub_value, elem.fields[key], f"{path}.{key}", elem, unknown)
        return
    base = typ.lstrip("*")
    if base.startswith("[]"):
        if not isinstance(value, list):
            raise _type_error(value, struct, path, typ)
        for item in value:
            check_value(item, base[2:], path, struct, unknown)
        return
    if base.startswith("map["):
        if not isinstance(value, dict):
            raise _type_error(value, struct, path, typ)
        for item in value.values():
            check_value(item, base[base.index("]") + 1:], path, struct, unknown)
        return
    if base in ("string",) or base.endswith(":string"):
        if not isinstance(value, str):
            raise _type_error(value, struct, path, typ)
    elif base == "bool":
        if not isinstance(value, bool):
            raise _type_error(value, struct, path, typ)
    elif base in ("int", "int32", "int64"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(value, struct, path, typ)
    elif base == "float64":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, struct, path, typ)
    elif base == "metav1.Duration":
        if not isinstance(value, str):  # Duration.UnmarshalJSON unmarshals into a string first
            raise ConfigError(f"json: cannot unmarshal {json_kind(value)} into Go value of type string")
        try:
            go_duration(value)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    elif base == "metav1.Time":
        if not isinstance(value, (str, datetime.datetime, datetime.date)):
            raise ConfigError(f"json: cannot unmarshal {json_kind(value)} into Go value of type string")
    elif base == "v1.BootstrapTokenString":  # bootstraptoken/v1 utils.go NewBootstrapTokenString
        if not isinstance(value, str) or (value and not TOKEN_RE.match(value)):
            raise ConfigError(f'the bootstrap token "{value}" was not of the form "{TOKEN_PATTERN}"')
    # other external types (logsapi.LoggingConfiguration, v1.ResourceList, ...): not checked further


def verify_strict(doc: Document, minor: int) -> list[str]:
    """strict.VerifyUnmarshalStrict: the strict decoding errors of one document ([] when clean)."""
    schema = schema_for(doc.group, doc.version, doc.kind, minor)
    if schema is None:
        return [f"unknown configuration {doc.gvk_go}"]
    unknown: list[str] = []
    try:
        check_value(doc.content, schema, "", schema, unknown)
    except ConfigError as exc:
        return [f"error unmarshaling configuration {doc.gvk_go}: {exc}"]
    problems = unknown + [f"yaml: unmarshal errors:\n  {d}" for d in doc.duplicates]
    if problems:
        return [f"error unmarshaling configuration {doc.gvk_go}: strict decoding error: {', '.join(problems)}"]
    return []


def decode_lenient(doc: Document, minor: int) -> dict[str, Any]:
    """runtime.DecodeInto with the UniversalDecoder: unknown kinds and type errors fail, unknown fields are dropped."""
    schema = schema_for(doc.group, doc.version, doc.kind, minor)
    if schema is None:
        scheme = KUBEADM_SCHEME if doc.group == KUBEADM_GROUP else COMPONENT_SCHEME
        raise ConfigError(f'no kind "{doc.kind}" is registered for version "{doc.group}/{doc.version}" in scheme '
                          f'"{scheme}"')
    check_value(doc.content, schema, "", schema, [])
    return prune(doc.content, schema)


def prune(value: Any, typ: Any) -> Any:
    """The value without the fields its Go type does not have (what a non-strict decode keeps)."""
    if isinstance(typ, S) and isinstance(value, dict):
        return {k: prune(v, typ.fields[k]) for k, v in value.items() if k in typ.fields}
    if isinstance(typ, tuple) and isinstance(value, list):
        return [prune(v, typ[1]) for v in value]
    return value


def supported_version(doc: Document, minor: int, allow_deprecated: bool) -> None:
    """validateSupportedVersion (cmd/kubeadm/app/util/config/common.go): old APIs fail, deprecated ones warn."""
    if doc.group != KUBEADM_GROUP:
        return
    old = {"v1alpha1": "v1.11", "v1alpha2": "v1.12", "v1alpha3": "v1.14", "v1beta1": "v1.15", "v1beta2": "v1.22"}
    if minor >= 36:
        old["v1beta3"] = "v1.36"  # PR #136016; message as kubeadm v1.37.0 prints it (apache/cloudstack#14183)
    if doc.version in old:
        how = ("'kubeadm config migrate --old-config old-config-file --new-config new-config-file'"
               if doc.version == "v1beta3" else "'kubeadm config migrate --old-config old.yaml --new-config new.yaml'")
        raise ConfigError(f'your configuration file uses an old API spec: "{doc.group}/{doc.version}" (kind: '
                          f'"{doc.kind}"). Please use kubeadm {old[doc.version]} instead and run {how}, which will '
                          "write the new, similar spec using a newer API version.")
    if doc.version == "v1beta3" and not allow_deprecated:
        klog("W", "common.go:101", f'your configuration file uses a deprecated API spec: "{doc.group}/{doc.version}" '
             f'(kind: "{doc.kind}"). Please use \'kubeadm config migrate --old-config old.yaml --new-config '
             "new.yaml', which will write the new, similar spec using a newer API version.")


class Config:
    """The decoded documents of one config file (kind -> content, unknown fields dropped)."""

    def __init__(self, docs: dict[str, dict[str, Any]], versions: dict[str, str]) -> None:
        self.docs = docs
        self.versions = versions

    def get(self, kind: str) -> dict[str, Any]:
        """The document of a kind ({} when the file has none)."""
        return self.docs.get(kind, {})

    def v1beta3(self, kind: str) -> bool:
        """Whether the document of kind was written in kubeadm.k8s.io/v1beta3 (map-shaped extraArgs)."""
        return self.versions.get(kind) == "v1beta3"


INIT_KINDS = ("InitConfiguration", "ClusterConfiguration")


def load(text: str, command: str, minor: int | None = None, strict: bool = False) -> Config:
    """Parse a config file as `kubeadm <command>` does (cmd/kubeadm/app/util/config: documentMapTo*Configuration).

    strict=True is `kubeadm config validate` (ValidateConfig): unknown APIs and strict decoding errors (unknown
    or duplicate fields) are errors. Otherwise they are klog warnings and the unknown fields are dropped, as
    `kubeadm init|join|reset --config` do (strictErrors=false in BytesToInitConfiguration and friends).
    """
    minor = minor or kube_minor()
    docs = sorted(split_documents(text), key=lambda d: d.gvk)  # documentMapToInitConfiguration sorts by GVK
    if strict:  # validateKnownGVKs skips the GVs validateSupportedVersion knows as old
        old = ("v1alpha1", "v1alpha2", "v1alpha3", "v1beta1", "v1beta2", "v1beta3")
        unknown = [d for d in docs if schema_for(d.group, d.version, d.kind, minor) is None
                   and not (d.group == KUBEADM_GROUP and d.version in old)]
        if unknown:
            raise ConfigError("unknown configuration APIs: []schema.GroupVersionKind{"
                              + ", ".join(d.gvk_go for d in unknown) + "}")
    found: dict[str, dict[str, Any]] = {}
    versions: dict[str, str] = {}

    def take(doc: Document, where: str) -> None:
        supported_version(doc, minor, allow_deprecated=strict)
        problems = verify_strict(doc, minor)
        if problems and strict:
            raise ConfigError(problems[0])
        if problems:
            klog("W", where, problems[0])
        if doc.kind in INIT_KINDS or doc.group == KUBEADM_GROUP and doc.kind == wanted:
            found[doc.kind] = decode_lenient(doc, minor)
            versions[doc.kind] = doc.version
        elif doc.group not in COMPONENT_GROUPS and not strict:
            klog("W", "initconfiguration.go:332", "[config] WARNING: Ignored configuration document with "
                 f"GroupVersionKind {doc.gvk}")

    wanted = ""
    if command == "init" or command == "validate" and any(d.kind in INIT_KINDS for d in docs):
        for doc in docs:
            take(doc, "initconfiguration.go:319")
        for doc in docs:  # componentconfigs.FetchFromDocumentMap (configset.go)
            if doc.group in COMPONENT_GROUPS:
                problems = verify_strict(doc, minor)
                if problems and not strict:
                    klog("W", "configset.go:177", problems[0])
                found[doc.kind] = decode_lenient(doc, minor)
                versions[doc.kind] = doc.version
        if not INIT_KINDS[0] in found and not INIT_KINDS[1] in found:
            raise ConfigError("no InitConfiguration or ClusterConfiguration kind was found in the configuration file")
    for sub, wanted in (("join", "JoinConfiguration"), ("reset", "ResetConfiguration"),
                        ("upgrade", "UpgradeConfiguration")):
        if command not in (sub, "validate"):
            continue
        for doc in docs:  # documentMapTo{Join,Reset,Upgrade}Configuration look at their own kind only
            if doc.kind == wanted:
                take(doc, f"{sub}configuration.go:107")
        if command == sub and wanted not in found:
            # resetconfiguration.go says JoinConfiguration here too (upstream's message)
            raise ConfigError(f"no {'JoinConfiguration' if sub == 'reset' else wanted} found in the supplied config")
    return Config(found, versions)


# ---------------------------------------------------------------- defaulting and validation

DNS1123_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
               "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1123_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WILDCARD_RE = re.compile(r"^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
VERSION_RE = re.compile(r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([-0-9a-zA-Z_.+]*)?$")
LABEL_RE = re.compile(r"^((latest|stable)+(-[1-9](\.[1-9]([0-9])?)?)?)$")
# kubeadm feature gates of 1.35-1.37 (cmd/kubeadm/app/features/features.go; PublicKeysECDSA removed in 1.36)
FEATURE_GATES = {"ControlPlaneKubeletLocalMode", "NodeLocalCRISocket", "WaitForAllControlPlaneComponents",
                 "RootlessControlPlane", "EtcdLearnerMode"}
DEFAULT_TIMEOUTS = {"controlPlaneComponentHealthCheck": "4m0s", "kubeletHealthCheck": "4m0s",
                    "kubernetesAPICall": "1m0s", "etcdAPICall": "2m0s", "tlsBootstrap": "5m0s", "discovery": "5m0s",
                    "upgradeManifests": "5m0s"}  # v1beta4/defaults.go


def field_invalid(path: str, value: Any, detail: str) -> str:
    """field.Invalid(...).Error(): `path: Invalid value: "v": detail` (ints and bools unquoted)."""
    shown = json.dumps(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else value
    return f"{path}: Invalid value: {shown}: {detail}"


def aggregate(errors: list[str]) -> None:
    """Raise field.ErrorList.ToAggregate(): one message, or `[a, b]` for several."""
    if errors:
        raise ConfigError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def args_of(section: dict[str, Any], v1beta3: bool, key: str = "extraArgs") -> list[dict[str, str]]:
    """extraArgs as v1beta4's list of {name, value} (v1beta3 maps convert with their keys sorted)."""
    raw = section.get(key)
    if not raw:
        return []
    if v1beta3 or isinstance(raw, dict):
        return [{"name": k, "value": str(raw[k])} for k in sorted(raw)]
    return [{"name": a.get("name", ""), "value": a.get("value", "")} for a in raw]


def arg_value(args: list[dict[str, str]], name: str) -> str | None:
    """kubeadmapi.GetArgValue: the last value given for a flag name."""
    found = None
    for arg in args:
        if arg["name"] == name:
            found = arg["value"]
    return found


def is_ip(value: str) -> bool:
    """netutils.ParseIPSloppy != nil."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def cidrs(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """netutils.ParseCIDRs of a comma-separated list (ValueError when one does not parse)."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",")]


def nth_ip(cidr: str, n: int) -> str:
    """netutils.GetIndexedIP of the first CIDR of a list (10.96.0.0/12, 10 -> 10.96.0.10)."""
    net = cidrs(cidr)[0]
    return str(net.network_address + n)


def split_host_port(endpoint: str, default_port: int | None = None) -> tuple[str, int]:
    """kubeadmutil.ParseHostPort: host[:port] with an IP or DNS-1123 host (ValueError otherwise)."""
    host_part, port = endpoint, default_port
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?|([0-9a-fA-F:]+)", endpoint)
    if not m:
        raise ValueError(endpoint)
    if m.group(1):
        host_part, port = m.group(1), int(m.group(2)) if m.group(2) else default_port
    elif m.group(3):
        host_part, port = m.group(3), int(m.group(4)) if m.group(4) else default_port
    if not (is_ip(host_part) or DNS1123_RE.match(host_part)) or (port is not None and not 0 < port < 65536):
        raise ValueError(endpoint)
    return host_part, port or 0


def check_sans(sans: list[str], path: str) -> list[str]:
    """ValidateCertSANs."""
    out = []
    for san in sans:
        if not DNS1123_RE.match(san) and not WILDCARD_RE.match(san) and not is_ip(san):
            out.append(field_invalid(path, san, "altname is not a valid IP address, DNS label or a DNS label with "
                                     f"subdomain wildcards: {DNS1123_MSG}; a wildcard DNS-1123 subdomain must start "
                                     "with '*.', followed by a valid DNS subdomain, which must consist of lower case "
                                     "alphanumeric characters, '-' or '.' and end with an alphanumeric character "
                                     "(e.g. '*.example.com', regex used for validation is "
                                     "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))
    return out


def check_subnet(value: str, minimum: int, path: str) -> list[str]:
    """ValidateIPNetFromString (one CIDR, or a dual-stack pair; at least `minimum` addresses each)."""
    try:
        nets = cidrs(value)
    except ValueError:
        return [field_invalid(path, value, "couldn't parse subnet")]
    out = []
    if len(nets) > 2 or len(nets) == 2 and nets[0].version == nets[1].version:
        out.append(field_invalid(path, value, "expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for "
                                 "dual-stack networking"))
    for net in nets:
        if net.num_addresses < minimum:
            out.append(field_invalid(path, str(net), f"subnet with {net.num_addresses} address(es) is too small, the "
                                     f"minimum is {minimum}"))
    return out


def check_extra_args(args: list[dict[str, str]], path: str) -> list[str]:
    """ValidateExtraArgs."""
    return [field_invalid(path, f"index {i}", "argument has no name") for i, a in enumerate(args) if not a["name"]]


def check_socket(socket_url: str, path: str) -> list[str]:
    """ValidateSocketPath: only unix:// URLs."""
    if not socket_url:
        return [field_invalid(path, socket_url, "empty CRI socket")]
    scheme = socket_url.split("://", 1)[0] if "://" in socket_url else ""
    if scheme != "unix":
        return [field_invalid(path, socket_url, f'only URL scheme "unix" is supported, got "{scheme}"')]
    return []


def check_cert_key(key: str, path: str) -> list[str]:
    """ValidateCertificateKey: hex of an AES-256 key."""
    if not key:
        return []
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        bad = next((c for c in key if c not in "0123456789abcdefABCDEF"), "")
        detail = (f"encoding/hex: invalid byte: U+{ord(bad):04X} {bad!r}" if bad
                  else "encoding/hex: odd length hex string")
        return [field_invalid(path, key, f"certificate key decoding error: {detail}")]
    if len(raw) != 32:
        return [field_invalid(path, key, f"invalid certificate key size {len(raw)}, the key must be an AES key of "
                              "size 32")]
    return []


def check_node_registration(reg: dict[str, Any], path: str) -> list[str]:
    """ValidateNodeRegistrationOptions."""
    out = []
    name = reg.get("name", "")
    if not name:
        out.append(f"{path}: Required value: --node-name or .nodeRegistration.name in the config file is a required "
                   "value. It seems like this value couldn't be automatically detected in your environment, please "
                   "specify the desired value using the CLI or config file.")
    elif len(name) > 253 or not DNS1123_RE.match(name):
        out.append(field_invalid(f"{path}.name", name, DNS1123_MSG))
    out += check_socket(reg.get("criSocket", ""), f"{path}.criSocket")
    out += check_extra_args(reg.get("kubeletExtraArgs", []), f"{path}.kubeletExtraArgs")
    if reg.get("imagePullPolicy", "") not in ("", "Always", "IfNotPresent", "Never"):
        out.append(field_invalid(f"{path}.imagePullPolicy", reg["imagePullPolicy"], "invalid pull policy"))
    return out


def check_api_endpoint(endpoint: dict[str, Any], path: str) -> list[str]:
    """ValidateAPIEndpoint."""
    out = []
    if not is_ip(endpoint.get("advertiseAddress", "")):
        out.append(field_invalid(f"{path}.advertiseAddress", endpoint.get("advertiseAddress", ""),
                                 "ip address is not valid"))
    if not 0 < int(endpoint.get("bindPort", 0)) < 65536:
        out.append(field_invalid(f"{path}.bindPort", int(endpoint.get("bindPort", 0)), "port number is not valid"))
    return out


def check_token(token: str, path: str) -> list[str]:
    """ValidateToken."""
    return [] if TOKEN_RE.match(token or "") else [field_invalid(path, token or "", "the bootstrap token is invalid")]


def validate_cluster(cluster: dict[str, Any]) -> list[str]:
    """ValidateClusterConfiguration (validation.go) on the defaulted v1beta4 shape."""
    out = []
    net = cluster["networking"]
    if not DNS1123_RE.match(net["dnsDomain"]):
        out.append(field_invalid("networking.dnsDomain", net["dnsDomain"], DNS1123_MSG))
    if net.get("serviceSubnet"):
        found = check_subnet(net["serviceSubnet"], 10, "networking.serviceSubnet")  # MinimumAddressesInServiceSubnet
        out += found
        if not found:
            for sub in cidrs(net["serviceSubnet"]):
                bits = 32 if sub.version == 4 else 128
                if bits - sub.prefixlen > 20:  # MaximumBitsForServiceSubnet
                    out.append(field_invalid("networking.serviceSubnet", str(sub), "specified service subnet is too "
                                             f"large; for {bits}-bit addresses, the mask must be >= {bits - 20}"))
    if net.get("podSubnet"):
        found = check_subnet(net["podSubnet"], 14, "networking.podSubnet")  # MinimumAddressesInPodSubnet
        out += found
        if not found and arg_value(cluster["controllerManager"]["extraArgs"], "allocate-node-cidrs") != "false":
            for sub in cidrs(net["podSubnet"]):
                flag = "node-cidr-mask-size-ipv6" if sub.version == 6 else "node-cidr-mask-size-ipv4"
                default = 64 if sub.version == 6 else 24
                node_mask = int(arg_value(cluster["controllerManager"]["extraArgs"], flag) or default)
                if sub.prefixlen > node_mask:
                    out.append(field_invalid("networking.podSubnet", str(sub), f"the size of pod subnet with mask "
                                             f"{sub.prefixlen} is smaller than the size of node subnet with mask "
                                             f"{node_mask}"))
                elif node_mask - sub.prefixlen > 16:  # PodSubnetNodeMaskMaxDiff
                    out.append(field_invalid("networking.podSubnet", str(sub), f"pod subnet mask ({sub.prefixlen}) "
                                             f"and node-mask ({node_mask}) difference is greater than 16"))
    out += check_sans(cluster["apiServer"]["certSANs"], "apiServer.certSANs")
    for component in ("apiServer", "controllerManager", "scheduler"):
        out += check_extra_args(cluster[component]["extraArgs"], f"{component}.extraArgs")
    if not cluster["certificatesDir"].startswith("/"):
        out.append(field_invalid("certificatesDir", cluster["certificatesDir"], "path is not absolute"))
    for gate in cluster.get("featureGates") or {}:
        if gate not in FEATURE_GATES | ({"PublicKeysECDSA"} if kube_minor() <= 35 else set()):
            out.append(f"featureGates: Invalid value: map[string]bool{{...}}: {gate} is not a valid feature name.")
    if cluster.get("controlPlaneEndpoint"):
        try:
            split_host_port(cluster["controlPlaneEndpoint"])
        except ValueError:
            out.append(field_invalid("controlPlaneEndpoint", cluster["controlPlaneEndpoint"], "endpoint is not valid"))
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*",
                        cluster["imageRepository"]):
        out.append(field_invalid("imageRepository", cluster["imageRepository"], "invalid image repository format"))
    etcd = cluster["etcd"]
    if etcd.get("local") is not None and etcd.get("external") is not None:
        out.append(field_invalid("etcd", "", ".Etcd.Local and .Etcd.External are mutually exclusive"))
    elif etcd.get("local") is not None:
        local = etcd["local"]
        if not local["dataDir"].startswith("/"):
            out.append(field_invalid("etcd.local.dataDir", local["dataDir"], "path is not absolute"))
        out += check_sans(local.get("serverCertSANs") or [], "etcd.local.serverCertSANs")
        out += check_sans(local.get("peerCertSANs") or [], "etcd.local.peerCertSANs")
        out += check_extra_args(local["extraArgs"], "etcd.local.extraArgs")
    if cluster["encryptionAlgorithm"] not in ("ECDSA-P256", "RSA-2048", "RSA-3072", "RSA-4096"):
        out.append(field_invalid("encryptionAlgorithm", cluster["encryptionAlgorithm"], f"Invalid encryption algorithm "
                                 f"\"{cluster['encryptionAlgorithm']}\". Must be one of [ECDSA-P256 RSA-2048 RSA-3072 "
                                 "RSA-4096]"))
    return out


def default_cluster(doc: dict[str, Any], v1beta3: bool) -> dict[str, Any]:
    """A ClusterConfiguration with v1beta4's static defaults (defaults.go) and v1beta4-shaped extraArgs."""
    def component(name: str) -> dict[str, Any]:
        section = dict(doc.get(name) or {})
        return {**section, "extraArgs": args_of(section, v1beta3), "extraVolumes": list(section.get("extraVolumes")
                                                                                        or []),
                "extraEnvs": list(section.get("extraEnvs") or [])}
    etcd = dict(doc.get("etcd") or {})
    if etcd.get("external") is None:
        local = dict(etcd.get("local") or {})
        etcd["local"] = {**local, "dataDir": local.get("dataDir") or "/var/lib/etcd",
                         "extraArgs": args_of(local, v1beta3)}
    net = dict(doc.get("networking") or {})
    return {
        "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
        "kubernetesVersion": doc.get("kubernetesVersion") or "stable-1",
        "controlPlaneEndpoint": doc.get("controlPlaneEndpoint") or "",
        "networking": {"serviceSubnet": net.get("serviceSubnet") or "10.96.0.0/12",
                       "podSubnet": net.get("podSubnet") or "", "dnsDomain": net.get("dnsDomain") or "cluster.local"},
        "apiServer": {**component("apiServer"),
                      "certSANs": [s.lower() for s in (doc.get("apiServer") or {}).get("certSANs") or []]},
        "controllerManager": component("controllerManager"), "scheduler": component("scheduler"),
        "dns": dict(doc.get("dns") or {}), "proxy": dict(doc.get("proxy") or {}), "etcd": etcd,
        "certificatesDir": doc.get("certificatesDir") or PKI,
        "imageRepository": doc.get("imageRepository") or "registry.k8s.io",
        "featureGates": dict(doc.get("featureGates") or {}), "clusterName": doc.get("clusterName") or "kubernetes",
        "encryptionAlgorithm": doc.get("encryptionAlgorithm") or "RSA-2048",
        "certificateValidityPeriod": doc.get("certificateValidityPeriod") or "8760h0m0s",
        "caCertificateValidityPeriod": doc.get("caCertificateValidityPeriod") or "87600h0m0s",
    }


def default_timeouts(doc: dict[str, Any], legacy: dict[str, str]) -> dict[str, float]:
    """{Init,Join,Reset}Configuration.timeouts in seconds, v1beta4 defaults filled in."""
    given = {**{k: v for k, v in legacy.items() if v}, **(doc.get("timeouts") or {})}
    return {k: go_duration(given.get(k) or v) for k, v in DEFAULT_TIMEOUTS.items()}


def node_registration(reg: dict[str, Any], v1beta3: bool, control_plane: bool, flags: dict[str, Any],
                      detect_cri: bool) -> dict[str, Any]:
    """SetNodeRegistrationDynamicDefaults: name from the hostname, CRI socket, the control-plane taint."""
    out = {**reg, "kubeletExtraArgs": args_of(reg, v1beta3, "kubeletExtraArgs")}
    out["name"] = (flags.get("node-name") or reg.get("name") or socket.gethostname()).strip().lower()
    cri = flags.get("cri-socket") or reg.get("criSocket") or ""
    if not cri:
        cri = detect_cri_socket() if detect_cri else DEFAULT_CRI
    if "://" not in cri and cri.startswith("/"):  # kubeadm util/runtime: deprecated bare paths
        klog("W", "initconfiguration.go:126", f'Usage of CRI endpoints without URL scheme is deprecated and can cause '
             f'kubelet errors in the future. Automatically prepending scheme "unix" to the "criSocket" with value '
             f'"{cri}". Please update your configuration!')
        cri = "unix://" + cri
    out["criSocket"] = cri
    if out.get("taints") is None and control_plane:
        out["taints"] = [dict(CONTROL_PLANE_TAINT)]
    out.setdefault("imagePullPolicy", "IfNotPresent")
    return out


def detect_cri_socket() -> str:
    """DetectCRISocket: the one known runtime socket present (containerd, CRI-O, cri-dockerd)."""
    known = ["unix:///var/run/containerd/containerd.sock", "unix:///var/run/crio/crio.sock",
             "unix:///var/run/cri-dockerd.sock"]
    present = [s for s in known if host(s.removeprefix("unix://")).is_socket()]
    if len(present) > 1:
        raise ConfigError(f"found multiple CRI endpoints on the host. Please define which one do you wish to use by "
                          f"setting the 'criSocket' field in the kubeadm configuration file: {', '.join(present)}")
    return present[0] if present else DEFAULT_CRI


def normalize_version(version: str, minor: int, lookup: bool) -> str:
    """NormalizeKubernetesVersion: resolve labels (stable-1 from dl.k8s.io) and refuse a too old control plane."""
    if LABEL_RE.match(version):
        version = release_version(version) if lookup else kubeadm_version()
    m = VERSION_RE.match(version)
    if not m:
        raise ConfigError(f'version "{version}" doesn\'t match patterns for neither semantic version nor labels '
                          "(stable, latest, ...)")
    if (int(m.group(1)), int(m.group(2))) < (1, minor - 1):  # constants.MinimumControlPlaneVersion = minor - 1
        shown = version if version.startswith("v") else "v" + version
        raise ConfigError(f"this version of kubeadm only supports deploying clusters with the control plane version "
                          f">= 1.{minor - 1}.0. Current version: {shown}")
    return version if version.startswith("v") else "v" + version


def check_version(version: str) -> str:
    """The control-plane version this kubeadm accepts (NormalizeKubernetesVersion without a lookup)."""
    return normalize_version(version, kube_minor(), lookup=False)


def fetch_url(url: str, timeout: float) -> str:
    """GET a URL (kubeadm's fetchFromURL); OSError with the Go-like reason."""
    result: dict[str, Any] = {}

    def get() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                result["body"] = resp.read(4096).decode().strip()
        except (OSError, ValueError) as exc:
            result["error"] = getattr(exc, "reason", exc)
    worker = threading.Thread(target=get, daemon=True)
    worker.start()
    worker.join(timeout)  # name resolution is not bounded by the socket timeout
    if "body" in result:
        return str(result["body"])
    reason = result.get("error") or "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    raise OSError(f'unable to get URL "{url}": Get "{url}": {reason}')


def release_version(label: str) -> str:
    """kubernetesReleaseVersion: the version a label names on dl.k8s.io, the client's own when offline."""
    url = STABLE_URL.format(label=label)
    standin.log_line(f"kubeadm: version lookup {url} (no kubernetesVersion from --config or --kubernetes-version)")
    try:
        body = fetch_url(url, RELEASE_TIMEOUT)
    except OSError as exc:
        klog("W", "version.go:109", f"could not fetch a Kubernetes version from the internet: {exc}")
        klog("W", "version.go:110", f"falling back to the local client version: {kubeadm_version()}")
        standin.log_line(f"kubeadm: version lookup failed, used the client version {kubeadm_version()}: {exc}")
        return kubeadm_version()
    m = VERSION_RE.match(body)
    if not m:
        raise ConfigError(f'version "{body}" doesn\'t match patterns for neither semantic version nor labels')
    if int(m.group(2)) > kube_minor():
        klog("W", "version.go:123", f"Kubernetes version is greater than kubeadm version. Please consider to upgrade "
             f"kubeadm. Kubernetes version: {body}. Kubeadm version: 1.{kube_minor()}.x")
        return kubeadm_version()
    return body if body.startswith("v") else "v" + body


def default_route_ip() -> str:
    """ChooseAPIServerBindAddress(nil): the address of the interface with the default route."""
    res = subprocess.run(["ip", "-o", "-4", "route", "get", "10.255.255.254"], capture_output=True, text=True)
    found = re.search(r"\bsrc (\S+)", res.stdout)
    if not found:
        raise ConfigError("unable to select an IP from default routes.")
    return found.group(1)


class InitCfg:
    """The defaulted InitConfiguration + ClusterConfiguration (+ component configs) `kubeadm init` works from."""

    def __init__(self, config: Config, flags: dict[str, Any], lookup: bool = True, detect: bool = True) -> None:
        minor = kube_minor()
        init = config.get("InitConfiguration")
        v3 = config.v1beta3("InitConfiguration")
        cluster_doc = dict(config.get("ClusterConfiguration"))
        if flags.get("kubernetes-version"):
            cluster_doc["kubernetesVersion"] = flags["kubernetes-version"]
        for flag, path in (("pod-network-cidr", ("networking", "podSubnet")),
                           ("service-cidr", ("networking", "serviceSubnet")),
                           ("service-dns-domain", ("networking", "dnsDomain"))):
            if flags.get(flag):
                cluster_doc.setdefault(path[0], {})[path[1]] = flags[flag]
        if flags.get("control-plane-endpoint"):
            cluster_doc["controlPlaneEndpoint"] = flags["control-plane-endpoint"]
        if flags.get("image-repository"):
            cluster_doc["imageRepository"] = flags["image-repository"]
        if flags.get("apiserver-cert-extra-sans"):
            cluster_doc.setdefault("apiServer", {})["certSANs"] = flags["apiserver-cert-extra-sans"]
        self.cluster = default_cluster(cluster_doc, config.v1beta3("ClusterConfiguration"))
        self.cluster["kubernetesVersion"] = normalize_version(self.cluster["kubernetesVersion"], minor, lookup)
        legacy = {"controlPlaneComponentHealthCheck":
                  (cluster_doc.get("apiServer") or {}).get("timeoutForControlPlane")}
        self.timeouts = default_timeouts(init, legacy)
        self.node = node_registration(dict(init.get("nodeRegistration") or {}), v3, True, flags, detect)
        endpoint = dict(init.get("localAPIEndpoint") or {})
        if flags.get("apiserver-advertise-address"):
            endpoint["advertiseAddress"] = flags["apiserver-advertise-address"]
        if flags.get("apiserver-bind-port"):
            endpoint["bindPort"] = int(flags["apiserver-bind-port"])
        address = endpoint.get("advertiseAddress") or ""
        if address and not is_ip(address):
            raise ConfigError(f'couldn\'t use "{address}" as "apiserver-advertise-address", must be ipv4 or ipv6 '
                              "address")
        self.endpoint = {"advertiseAddress": address or (default_route_ip() if detect else "0.0.0.0"),
                         "bindPort": int(endpoint.get("bindPort") or 6443)}
        self.certificate_key = flags.get("certificate-key") or init.get("certificateKey") or ""
        self.skip_phases = list(flags.get("skip-phases") or init.get("skipPhases") or [])
        self.tokens = default_tokens(init.get("bootstrapTokens"), flags)
        self.kubelet = dict(config.get("KubeletConfiguration"))
        self.proxy = dict(config.get("KubeProxyConfiguration"))
        self.patches = (init.get("patches") or {}).get("directory")

    def validate(self) -> None:
        """ValidateInitConfiguration."""
        out = check_node_registration(self.node, "nodeRegistration")
        for i, token in enumerate(self.tokens):
            out += check_token(token["token"], f"bootstrapTokens[{i}].token")
            bad = [u for u in token["usages"] if u not in ("signing", "authentication")]
            if bad:
                out.append(field_invalid(f"bootstrapTokens[{i}].usages", token["usages"], f"invalid bootstrap token "
                                         f"usage string: {','.join(bad)}, valid usage options: signing,authentication"))
            for group in token["groups"]:
                if not re.match(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$", group):
                    out.append(field_invalid(f"bootstrapTokens[{i}].groups", token["groups"], f'bootstrap group "'
                                             f'{group}" is invalid (must match ^system:bootstrappers:[a-z0-9:-]'
                                             "{0,255}[a-z0-9]$)"))
            if token.get("expires") and token.get("ttl_set"):
                out.append(field_invalid(f"bootstrapTokens[{i}]", "", "the BootstrapToken .TTL and .Expires fields "
                                         "are mutually exclusive"))
        out += validate_cluster(self.cluster)
        out += check_api_endpoint(self.endpoint, "localAPIEndpoint")
        out += check_cert_key(self.certificate_key, "certificateKey")
        aggregate(out)

    # ---------------------------------------------------------------- derived values

    @property
    def name(self) -> str:
        """This node's name."""
        return str(self.node["name"])

    @property
    def advertise(self) -> str:
        """localAPIEndpoint.advertiseAddress."""
        return str(self.endpoint["advertiseAddress"])

    @property
    def port(self) -> int:
        """localAPIEndpoint.bindPort."""
        return int(self.endpoint["bindPort"])

    @property
    def control_plane_endpoint(self) -> str:
        """host:port kubeconfigs and join commands use (GetControlPlaneEndpoint)."""
        cpe = self.cluster["controlPlaneEndpoint"]
        if not cpe:
            return join_host_port(self.advertise, self.port)
        host_part, port = split_host_port(cpe)
        return join_host_port(host_part, port or self.port)

    @property
    def local_etcd(self) -> dict[str, Any] | None:
        """etcd.local, None with an external etcd."""
        return self.cluster["etcd"].get("local")


def join_host_port(host_part: str, port: int) -> str:
    """net.JoinHostPort."""
    return f"[{host_part}]:{port}" if ":" in host_part else f"{host_part}:{port}"


def default_tokens(tokens: list[dict[str, Any]] | None, flags: dict[str, Any]) -> list[dict[str, Any]]:
    """SetDefaults_BootstrapToken + SetBootstrapTokensDynamicDefaults: one default token, random secrets."""
    out = []
    for token in tokens or [{}]:
        item = dict(token)
        item["ttl_set"] = bool(token.get("ttl"))
        item["token"] = flags.get("token") or item.get("token") or new_token()
        if not item.get("expires"):
            item["ttl"] = go_duration(flags.get("token-ttl") or item.get("ttl") or "24h0m0s")
        item["usages"] = list(item.get("usages") or ["signing", "authentication"])
        item["groups"] = list(item.get("groups") or [DEFAULT_TOKEN_GROUP])
        item.setdefault("description", "")
        out.append(item)
    return out


def new_token() -> str:
    """bootstraputil.GenerateBootstrapToken: [a-z0-9]{6}.[a-z0-9]{16}."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(6)) + "." + "".join(
        secrets.choice(alphabet) for _ in range(16))


class JoinCfg:
    """The defaulted JoinConfiguration `kubeadm join` works from."""

    def __init__(self, config: Config, flags: dict[str, Any], args: list[str], detect: bool = True) -> None:
        doc = config.get("JoinConfiguration")
        v3 = config.v1beta3("JoinConfiguration")
        discovery = dict(doc.get("discovery") or {})
        boot = dict(discovery.get("bootstrapToken") or {})
        if not config.docs:  # flags only (newJoinData builds the config from flags)
            token = flags.get("discovery-token") or flags.get("token") or ""
            boot = {"token": token, "apiServerEndpoint": args[0] if args else "",
                    "caCertHashes": list(flags.get("discovery-token-ca-cert-hash") or []),
                    "unsafeSkipCAVerification": bool(flags.get("discovery-token-unsafe-skip-ca-verification"))}
            discovery = {"bootstrapToken": boot, "tlsBootstrapToken": flags.get("tls-bootstrap-token") or
                         flags.get("token") or ""}
            if flags.get("discovery-file"):
                discovery = {"file": {"kubeConfigPath": flags["discovery-file"]}}
            if flags.get("control-plane"):
                doc = {**doc, "controlPlane": {"localAPIEndpoint": {
                    "advertiseAddress": flags.get("apiserver-advertise-address", ""),
                    "bindPort": int(flags.get("apiserver-bind-port") or 6443)},
                    "certificateKey": flags.get("certificate-key", "")}}
        self.discovery = discovery
        self.token = str(boot.get("token") or "")
        self.api_server = str(boot.get("apiServerEndpoint") or "")
        self.ca_hashes = list(boot.get("caCertHashes") or [])
        self.unsafe = bool(boot.get("unsafeSkipCAVerification"))
        self.tls_token = str(discovery.get("tlsBootstrapToken") or self.token)
        self.ca_cert_path = doc.get("caCertPath") or f"{PKI}/ca.crt"
        cp = doc.get("controlPlane")
        self.control_plane = cp is not None
        self.node = node_registration(dict(doc.get("nodeRegistration") or {}), v3, self.control_plane, flags, detect)
        endpoint = dict((cp or {}).get("localAPIEndpoint") or {})
        address = endpoint.get("advertiseAddress") or ""
        self.endpoint = {"advertiseAddress": address or (default_route_ip() if self.control_plane and detect else
                                                         "0.0.0.0"),
                         "bindPort": int(endpoint.get("bindPort") or 6443)}
        self.certificate_key = str((cp or {}).get("certificateKey") or "")
        self.skip_phases = list(flags.get("skip-phases") or doc.get("skipPhases") or [])
        legacy = {"discovery": discovery.get("timeout")}
        self.timeouts = default_timeouts(doc, legacy)
        self.patches = (doc.get("patches") or {}).get("directory")

    def validate(self) -> None:
        """ValidateJoinConfiguration."""
        out = []
        has_token, has_file = "bootstrapToken" in self.discovery, "file" in self.discovery
        if not has_token and not has_file:
            out.append(field_invalid("discovery", "", "bootstrapToken or file must be set"))
        if has_token and has_file:
            out.append(field_invalid("discovery", "", "bootstrapToken and file cannot both be set"))
        if has_token:
            if not self.api_server:
                out.append("discovery.bootstrapToken: Required value: APIServerEndpoint is not set")
            if not self.ca_hashes and not self.unsafe:
                out.append(field_invalid("discovery.bootstrapToken.caCertHashes", "", "using token-based discovery "
                                         "without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in "
                                         "your kubeadm config file or pass --discovery-token-unsafe-skip-ca-"
                                         "verification flag to continue"))
            out += check_token(self.token, "discovery.bootstrapToken.token")
            if self.api_server and not re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+):\d+", self.api_server):
                out.append(field_invalid("discovery.bootstrapToken.apiServerEndpoint", self.api_server,
                                         f"address {self.api_server}: missing port in address"))
            out += check_token(self.tls_token, "discovery.tlsBootstrapToken")
        out += check_node_registration(self.node, "nodeRegistration")
        if self.control_plane:
            out += check_api_endpoint(self.endpoint, "controlPlane.localAPIEndpoint")
            out += check_cert_key(self.certificate_key, "controlPlane.certificateKey")
        if not self.ca_cert_path.startswith("/") or not self.ca_cert_path.endswith(".crt"):
            out.append(field_invalid("caCertPath", self.ca_cert_path, "the ca certificate path must be an absolute "
                                     "path"))
        aggregate(out)

    @property
    def name(self) -> str:
        """This node's name."""
        return str(self.node["name"])

    @property
    def advertise(self) -> str:
        """controlPlane.localAPIEndpoint.advertiseAddress."""
        return str(self.endpoint["advertiseAddress"])

    @property
    def port(self) -> int:
        """controlPlane.localAPIEndpoint.bindPort."""
        return int(self.endpoint["bindPort"])


def validate_reset(doc: dict[str, Any]) -> None:
    """ValidateResetConfiguration."""
    out = check_socket(doc.get("criSocket") or DEFAULT_CRI, "criSocket")
    certs = doc.get("certificatesDir") or PKI
    if not certs.startswith("/"):
        out.append(field_invalid("certificatesDir", certs, "path is not absolute"))
    for i, flag in enumerate(doc.get("unmountFlags") or []):
        if flag not in ("MNT_FORCE", "MNT_DETACH", "MNT_EXPIRE", "UMOUNT_NOFOLLOW"):
            out.append(field_invalid("unmountFlags", f"index {i}", f"unknown unmount flag {flag}"))
    aggregate(out)


def decode(text: str, version: str | None = None) -> dict[str, dict[str, Any]]:
    """The documents of a kubeadm config by kind, as `kubeadm config validate --config` accepts them.

    Raises ValueError with kubeadm's message: unknown APIs, unknown or duplicate fields, a v1beta4-only field
    under v1beta3 (and v1beta3 itself from 1.36), type errors and ValidateInitConfiguration/
    ValidateJoinConfiguration/ValidateResetConfiguration errors. version ("1.36.4") picks the kubeadm minor
    (default: this build's). Dynamic defaults use placeholders: the node name is the local hostname, the
    advertise address 0.0.0.0 when unset, no CRI detection and no stable-1 lookup.
    """
    global MINOR_OVERRIDE
    minor = int(version.lstrip("v").split(".")[1]) if version else kube_minor()
    previous, MINOR_OVERRIDE = MINOR_OVERRIDE, minor
    try:
        config = load(text, "validate", minor, strict=True)
        if {"InitConfiguration", "ClusterConfiguration"} & set(config.docs):
            InitCfg(config, {}, lookup=False, detect=False).validate()
        if "JoinConfiguration" in config.docs:
            JoinCfg(config, {}, [], detect=False).validate()
        if "ResetConfiguration" in config.docs:
            validate_reset(config.get("ResetConfiguration"))
    except Fail as exc:
        raise ValueError(str(exc)) from None
    finally:
        MINOR_OVERRIDE = previous
    return config.docs


# ---------------------------------------------------------------- preflight (cmd/kubeadm/app/preflight/checks.go)

class Check:
    """The outcome of one preflight check: its Name() and its warnings and errors."""

    def __init__(self, name: str, warnings: list[str] | None = None, errors: list[str] | None = None) -> None:
        self.name = name
        self.warnings = warnings or []
        self.errors = errors or []

    def __repr__(self) -> str:
        return f"Check({self.name!r}, warnings={self.warnings!r}, errors={self.errors!r})"


class Probe:
    """What preflight asks the node (tests replace parts of it). Paths are ROOT-relative."""

    def is_root(self) -> bool:
        """IsPrivilegedUserCheck: euid 0."""
        return os.geteuid() == 0

    def port_in_use(self, port: int) -> bool:
        """PortOpenCheck: net.Listen("tcp", ":port") fails (Go sets SO_REUSEADDR; dual-stack [::] when possible)."""
        for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError:
                continue
            with sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                try:
                    sock.bind((address, port))
                    sock.listen(1)
                    return False
                except OSError as exc:
                    if exc.errno == 98:  # EADDRINUSE
                        return True
        return False

    def executable(self, name: str) -> bool:
        """InPathCheck: exec.LookPath."""
        return shutil.which(name) is not None

    def cpus(self) -> int:
        """NumCPUCheck: runtime.NumCPU (the CPUs this process may run on)."""
        return len(os.sched_getaffinity(0))

    def memory_mb(self) -> int:
        """MemCheck: sysinfo Totalram in MB."""
        text = host("/proc/meminfo").read_text() if host("/proc/meminfo").exists() else "MemTotal: 0 kB"
        found = re.search(r"MemTotal:\s+(\d+)", text)
        return int(found.group(1)) // 1024 if found else 0

    def swap_on(self) -> bool:
        """SwapCheck: /proc/swaps lists a device."""
        path = host("/proc/swaps")
        return path.exists() and len(path.read_text().strip().splitlines()) > 1

    def cgroup_v2(self) -> bool:
        """The system validator's cgroup mode: /sys/fs/cgroup is cgroup2."""
        return host("/sys/fs/cgroup/cgroup.controllers").exists()

    def cgroup_controllers(self) -> set[str]:
        """Controllers available: cgroup.controllers of the root (v2) or the enabled ones of /proc/cgroups (v1)."""
        path = host("/sys/fs/cgroup/cgroup.controllers")
        if path.exists():
            return set(path.read_text().split())
        lines = host("/proc/cgroups").read_text().splitlines() if host("/proc/cgroups").exists() else []
        rows = (line.split() for line in lines if not line.startswith("#"))
        return {f[0] for f in rows if len(f) >= 4 and f[3] != "0"}

    def freezer(self) -> bool:
        """checkCgroupV2Freeze: a cgroup made under the root has cgroup.freeze."""
        try:
            test = Path(tempfile.mkdtemp(prefix="freezer-test", dir=host("/sys/fs/cgroup")))
        except OSError:
            return False
        try:
            return (test / "cgroup.freeze").exists()
        finally:
            try:
                test.rmdir()
            except OSError:
                pass

    def kernel_config(self, release: str) -> tuple[dict[str, str] | None, str]:
        """The kernel's build config from /proc/config.gz or /boot/config-<release>, else `modprobe configs`."""
        import gzip
        for _ in range(2):
            for path in (host("/proc/config.gz"), host(f"/boot/config-{release}")):
                if path.exists():
                    raw = path.read_bytes()
                    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
                    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and
                                not line.startswith("#")), ""
            try:
                res = subprocess.run(["modprobe", "configs"], capture_output=True, text=True)
            except OSError as exc:
                return None, (f'unable to load kernel module: "configs", output: "", err: exec: "modprobe": '
                              f"{exc.strerror}")
            if res.returncode != 0:
                output = (res.stdout + res.stderr).replace("\n", "\\n")
                return None, (f'unable to load kernel module: "configs", output: "{output}", err: exit status '
                              f"{res.returncode}")
        return None, "no config path in [/proc/config.gz /boot/config-" + release + "] is available"

    def runtime(self, cri: str) -> tuple[str | None, str]:
        """(containerd version, "") when the CRI socket answers, (None, dial error) when not."""
        sock = cri.removeprefix("unix://")
        if not host(sock).is_socket():
            return None, f"dial unix {sock}: connect: no such file or directory"
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(str(host(sock)))
        except OSError as exc:
            return None, f"dial unix {sock}: connect: {exc.strerror.lower() if exc.strerror else exc}"
        ctr = next((c for c in ("/usr/local/bin/ctr", "/usr/bin/ctr") if Path(c).exists()), "ctr")
        try:
            res = subprocess.run([ctr, "--address", str(host(sock)), "version"], capture_output=True, text=True,
                                 timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, str(exc)
        found = re.search(r"Version:\s*v?(\d+\.\d+\.\d+)", res.stdout.split("Server:", 1)[-1])
        return (found.group(1), "") if res.returncode == 0 and found else (None, res.stderr.strip() or "no answer")

    def sandbox_image(self) -> str | None:
        """The pause image containerd's CRI plugin pins (config.toml v3 `sandbox`, v2 `sandbox_image`)."""
        path = host("/etc/containerd/config.toml")
        if not path.exists():
            return None
        found = re.search(r"""^\s*sandbox(?:_image)?\s*=\s*['"]([^'"]+)['"]""", path.read_text(), re.M)
        return found.group(1) if found else None

    def kubelet_version(self) -> str | None:
        """KubeletVersionCheck: `kubelet --version`."""
        try:
            res = subprocess.run(["kubelet", "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = re.search(r"v(\d+\.\d+\.\d+)", res.stdout)
        return found.group(1) if found else None

    def service(self, name: str) -> tuple[bool, bool, bool]:
        """(exists, enabled, active) of a systemd unit."""
        exists = subprocess.run(["systemctl", "cat", f"{name}.service"], capture_output=True).returncode == 0
        enabled = subprocess.run(["systemctl", "is-enabled", "--quiet", f"{name}.service"]).returncode == 0
        active = subprocess.run(["systemctl", "is-active", "--quiet", f"{name}.service"]).returncode == 0
        return exists, enabled, active

    def resolves(self, name: str) -> str | None:
        """HostnameCheck: net.LookupHost; the error, None when it resolves."""
        try:
            socket.getaddrinfo(name, None)
            return None
        except OSError as exc:
            return f"lookup {name}: {exc.strerror or exc}"

    def kernel(self) -> str:
        """The running kernel release."""
        return os.uname().release


def _file_available(path: str) -> Check:
    """FileAvailableCheck: the file must not exist."""
    name = f"FileAvailable-{path.replace('/', '-')}"
    return Check(name, errors=[f"{path} already exists"] if os.path.lexists(host(path)) else [])


def _dir_available(path: str) -> Check:
    """DirAvailableCheck: the directory must be absent or empty."""
    name = f"DirAvailable-{path.replace('/', '-')}"
    target = host(path)
    return Check(name, errors=[f"{path} is not empty"] if target.is_dir() and any(target.iterdir()) else [])


def _port(port: int, probe: Probe) -> Check:
    """PortOpenCheck."""
    return Check(f"Port-{port}", errors=[f"Port {port} is in use"] if probe.port_in_use(port) else [])


def _in_path(executable: str, mandatory: bool, probe: Probe) -> Check:
    """InPathCheck: an error when mandatory, a warning otherwise."""
    if probe.executable(executable):
        return Check(f"FileExisting-{executable}")
    message = f"{executable} not found in system path"
    return Check(f"FileExisting-{executable}", errors=[message] if mandatory else [],
                 warnings=[] if mandatory else [message])


def _http_proxy(target: str) -> Check:
    """HTTPProxyCheck: warn when a proxy would carry the connection."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    no_proxy = [p.strip() for p in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").split(",") if p]
    if not proxy or target in no_proxy or any(target.endswith(p.lstrip(".")) for p in no_proxy if p):
        return Check("HTTPProxy")
    return Check("HTTPProxy", warnings=[f'Connection to "https://{target}" uses proxy "{proxy}". If that is not '
                                        "intended, adjust your proxy settings"])


def _runtime_checks(cri: str, probe: Probe) -> list[Check]:
    """ContainerRuntimeCheck (CRI) and ContainerRuntimeVersionCheck (RuntimeConfig support, PR #134906)."""
    version, error = probe.runtime(cri)
    if version is None:
        return [Check("CRI", errors=[f'container runtime is not running: validate service connection: validate CRI v1 '
                                     f'runtime API for endpoint "{cri}": rpc error: code = Unavailable desc = '
                                     f'connection error: desc = "transport: Error while dialing: {error}"'])]
    checks = [Check("CRI")]
    if int(version.split(".")[0]) < 2:  # containerd < 2.0 does not implement RuntimeConfig
        checks.append(Check("ContainerRuntimeVersion", warnings=[
            "You must update your container runtime to a version that supports the CRI method RuntimeConfig. Falling "
            "back to using cgroupDriver from kubelet config will be removed in "
            f"{RUNTIME_CONFIG_REMOVAL[kube_minor()]}. "
            "For more information, see https://git.k8s.io/enhancements/keps/sig-node/4033-group-driver-detection-over-"
            "cri"]))
    else:
        checks.append(Check("ContainerRuntimeVersion"))
    return checks


# k8s.io/system-validators v1.12.1 (the version kubeadm 1.35+ vendors): validators/types_unix.go DefaultSysSpec,
# kernel_validator.go, cgroup_validator_linux.go.
KERNEL_VERSIONS = (r"^5\.4.*$", r"^5\.10.*$", r"^5\.15.*$", r"^([6-9]|[1-9][0-9]+)\.([0-9]+)\.([0-9]+).*$")
KERNEL_REQUIRED = ("NAMESPACES", "NET_NS", "PID_NS", "IPC_NS", "UTS_NS", "CPUSETS", "MEMCG", "INET", "EXT4_FS",
                   "PROC_FS", "NETFILTER_XT_TARGET_REDIRECT|IP_NF_TARGET_REDIRECT", "NETFILTER_XT_MATCH_COMMENT",
                   "FAIR_GROUP_SCHED", "CGROUPS", "CGROUP_BPF", "CGROUP_PIDS", "CGROUP_SCHED")
CGROUP_V1_ERROR = ("cgroups v1 support is deprecated and will be removed in a future release. Please migrate to "
                   "cgroups v2. To explicitly enable cgroups v1 support for kubelet v1.35 or newer, you must set the "
                   "kubelet configuration option 'FailCgroupV1' to 'false'. You must also explicitly skip this "
                   "validation. For more information, see "
                   "https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1")


def _system_verification(probe: Probe) -> Check:
    """SystemVerificationCheck: the kernel and cgroups validators (errors print the verification header)."""
    warnings, errors = [], []
    release = probe.kernel()
    if not any(re.match(r, release) for r in KERNEL_VERSIONS):
        warnings.append(f"kernel release {release} is unsupported. Supported LTS versions from the 5.x series are 5.4, "
                        "5.10 and 5.15. Any 6.x version is also supported. For cgroups v2 support, the recommended "
                        "version is 5.10 or newer")
    config, error = probe.kernel_config(release)
    if config is None:
        errors.append(f"failed to parse kernel config: {error}")
    else:
        bad = [f"CONFIG_{names.split('|')[0]}" for names in KERNEL_REQUIRED
               if not any(config.get(f"CONFIG_{n}") in ("y", "m") for n in names.split("|"))]
        if bad:
            errors.append(f"unexpected kernel config: {' '.join(bad)}")
    if probe.cgroup_v2():
        found = {"devices"} | ({"freezer"} if probe.freezer() else set()) | probe.cgroup_controllers()
        required, optional = ("cpu", "cpuset", "devices", "freezer", "memory", "pids"), ("hugetlb", "io")
    else:  # kubelet >= 1.35 disables cgroup v1 by default: an error
        errors.append(CGROUP_V1_ERROR)
        found = probe.cgroup_controllers()
        required = ("cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids")
        optional = ("hugetlb", "blkio")
    missing = [c for c in required if c not in found]
    if missing:
        errors = [e for e in errors if e != CGROUP_V1_ERROR] + [f"missing required cgroups: {' '.join(missing)}"]
    if [c for c in optional if c not in found]:
        warnings.append(f"missing optional cgroups: {' '.join(c for c in optional if c not in found)}")
    if errors:
        say("[preflight] The system verification failed. Printing the output from the verification:")
    return Check("SystemVerification", warnings, errors)


def _kubelet_version(k8s_version: str, probe: Probe) -> Check:
    """KubeletVersionCheck: kubelet at most 3 minors older than kubeadm, not newer than the control plane."""
    found = probe.kubelet_version()
    if found is None:
        return Check("KubeletVersion", errors=["couldn't get kubelet version: cannot execute 'kubelet --version': "
                                               'exec: "kubelet": executable file not found in $PATH'])
    minor = int(found.split(".")[1])
    if minor < kube_minor() - 3:  # constants.MinimumKubeletVersion
        return Check("KubeletVersion", errors=[f'Kubelet version "v{found}" is lower than kubeadm can support. Please '
                                               "upgrade kubelet"])
    if k8s_version:
        cp = int(k8s_version.lstrip("v").split(".")[1])
        if minor > cp:
            return Check("KubeletVersion", errors=[
                "the kubelet version is higher than the control plane version. This is not a supported version skew "
                f'and may lead to a malfunctional cluster. Kubelet version: "{found}" Control plane version: '
                f'"{k8s_version.lstrip("v")}"'])
    return Check("KubeletVersion")


def _service_kubelet(probe: Probe) -> Check:
    """ServiceCheck for kubelet (not required to be active)."""
    exists, enabled, _ = probe.service("kubelet")
    if not exists:
        return Check("Service-Kubelet", warnings=["kubelet service does not exist"])
    if not enabled:
        return Check("Service-Kubelet", warnings=["kubelet service is not enabled, please run 'systemctl enable "
                                                  "kubelet.service'"])
    return Check("Service-Kubelet")


def _hostname(name: str, probe: Probe) -> Check:
    """HostnameCheck: warnings only."""
    error = probe.resolves(name)
    if error is None:
        return Check("Hostname")
    return Check("Hostname", warnings=[f'hostname "{name}" could not be reached', f'hostname "{name}": {error}'])


def common_checks(k8s_version: str, node: dict[str, Any], probe: Probe) -> list[Check]:
    """addCommonChecks (init and join)."""
    checks = _runtime_checks(node["criSocket"], probe)
    forward = host("/proc/sys/net/ipv4/ip_forward")
    if not forward.exists():
        checks.append(Check("FileContent--proc-sys-net-ipv4-ip_forward",
                            errors=["/proc/sys/net/ipv4/ip_forward does not exist"]))
    elif not forward.read_text().startswith("1"):
        checks.append(Check("FileContent--proc-sys-net-ipv4-ip_forward",
                            errors=["/proc/sys/net/ipv4/ip_forward contents are not set to 1"]))
    if probe.swap_on():  # PR #125157: a warning, the kubelet decides (failSwapOn)
        checks.append(Check("Swap", warnings=[
            "swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer "
            "to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap on the node"]))
    # crictl (PR #126596), conntrack (PR #126953), socat/ebtables (PR #127151), ip/iptables/ethtool/tc (PR #129131)
    # are no longer checked from 1.32/1.33; mount and nsenter remain mandatory, touch a warning.
    checks += [_in_path("mount", True, probe), _in_path("nsenter", True, probe), _in_path("touch", False, probe)]
    checks += [_system_verification(probe), _hostname(node["name"], probe), _kubelet_version(k8s_version, probe),
               _service_kubelet(probe), _port(10250, probe)]
    return checks


def init_checks(cfg: InitCfg, probe: Probe, secondary: bool = False) -> list[Check]:
    """RunInitNodeChecks (also for a control-plane join: secondary=True, common checks already run)."""
    checks = [
        Check("NumCPU", errors=[f"the number of available CPUs {probe.cpus()} is less than the required 2"]
              if probe.cpus() < 2 else []),
        Check("Mem", errors=[f"the system RAM ({probe.memory_mb()} MB) is less than the minimum 1700 MB"]
              if probe.memory_mb() < 1700 else []),
        _kubernetes_version(cfg.cluster["kubernetesVersion"]),
        _port(cfg.port, probe), _port(10259, probe), _port(10257, probe),
        *[_file_available(f"{MANIFESTS}/{c}.yaml")
          for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")],
        _http_proxy(cfg.advertise),
    ]
    if not secondary:
        checks += common_checks(cfg.cluster["kubernetesVersion"], cfg.node, probe)
    if cfg.local_etcd is not None:
        checks += [_port(2379, probe), _port(2380, probe), _dir_available(cfg.local_etcd["dataDir"])]
    return checks


def _kubernetes_version(version: str) -> Check:
    """KubernetesVersionCheck: a warning for a control plane newer than kubeadm."""
    minor = int(version.lstrip("v").split(".")[1])
    if minor > kube_minor():
        return Check("KubernetesVersion", warnings=[
            f"Kubernetes version is greater than kubeadm version. Please consider to upgrade kubeadm. Kubernetes "
            f"version: {version.lstrip('v')}. Kubeadm version: 1.{kube_minor()}.x"])
    return Check("KubernetesVersion")


def join_checks(cfg: JoinCfg, probe: Probe) -> list[Check]:
    """RunJoinNodeChecks (without the root check, which runs first on its own)."""
    checks = [_dir_available(MANIFESTS), _file_available(f"{KDIR}/kubelet.conf"),
              _file_available(f"{KDIR}/bootstrap-kubelet.conf")]
    checks += common_checks("", cfg.node, probe)
    if not cfg.control_plane:
        checks.append(_file_available(cfg.ca_cert_path))
    if cfg.api_server:
        checks.append(_http_proxy(cfg.api_server.rsplit(":", 1)[0].strip("[]")))
    return checks


def preflight_checks(kind: str, cfg: InitCfg | JoinCfg, probe: Probe | None = None) -> list[Check]:
    """The preflight checks of `kubeadm init` (kind "init"), a join ("join") or the control-plane part of a
    control-plane join ("join-control-plane", cfg the cluster's InitCfg), in upstream's order."""
    probe = probe or Probe()
    if kind == "init":
        assert isinstance(cfg, InitCfg)
        return init_checks(cfg, probe)
    if kind == "join-control-plane":
        assert isinstance(cfg, InitCfg)
        return init_checks(cfg, probe, secondary=True)
    assert isinstance(cfg, JoinCfg)
    return join_checks(cfg, probe)


def ignored_set(values: Iterable[str]) -> set[str]:
    """ValidateIgnorePreflightErrors: lower-cased names; `all` alone."""
    out = {v.strip().lower() for value in values for v in value.split(",") if v.strip()}
    if "all" in out and len(out) > 1:
        raise ConfigError(field_invalid("ignore-preflight-errors", ",".join(sorted(out)),
                                        "don't specify individual checks if 'all' is used"))
    return out


def run_checks(checks: list[Check], ignored: set[str]) -> None:
    """RunChecks: warnings (and ignored errors) on stderr, then the fatal errors, then `preflight checks failed`."""
    fatal = []
    for check in checks:
        for warning in check.warnings:
            print(f"\t[WARNING {check.name}]: {warning}", file=sys.stderr)
        for error in check.errors:
            if "all" in ignored or check.name.lower() in ignored:
                print(f"\t[WARNING {check.name}]: {error}", file=sys.stderr)
            else:
                fatal.append(f"\t[ERROR {check.name}]: {error}")
    if fatal:
        print("[preflight] Some fatal errors occurred:\n" + "\n".join(fatal) + "\n[preflight] If you know what you "
              "are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`", file=sys.stderr)
        standin.log_line("kubeadm preflight failed: " + "; ".join(f.strip() for f in fatal))
        raise PhaseError("preflight", "preflight checks failed")


def root_check(ignored: set[str], probe: Probe) -> None:
    """RunRootCheckOnly: fail fast when not root."""
    run_checks([Check("IsPrivilegedUser", errors=[] if probe.is_root() else ["user is not running as root"])],
               ignored)


def image_pull(cluster: dict[str, Any], probe: Probe) -> None:
    """The ImagePull part of preflight: the lab pulls nothing; kubeadm's sandbox-image warning (checks.go:906)."""
    say("[preflight] Pulling images required for setting up a Kubernetes cluster")
    say("[preflight] This might take a minute or two, depending on the speed of your internet connection")
    say("[preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
    wanted = f"{cluster['imageRepository']}/pause:{IMAGES[kube_minor()]['pause']}"
    found = probe.sandbox_image()
    if found and found != wanted:
        klog("W", "checks.go:906", f'detected that the sandbox image "{found}" of the container runtime is '
             f'inconsistent with that used by kubeadm. It is recommended to use "{wanted}" as the CRI sandbox image.')


# ---------------------------------------------------------------- certificates (phases/certs, util/pkiutil)

def _openssl(*args: str, data: bytes | None = None) -> bytes:
    """openssl, failing like kubeadm's certificate errors."""
    return standin.openssl(*args, input=data)


def write_key(path: Path, algorithm: str) -> None:
    """A private key of ClusterConfiguration.encryptionAlgorithm (pkiutil.GeneratePrivateKey), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if algorithm == "ECDSA-P256":
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    else:
        bits = algorithm.split("-")[1]
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", str(path))
    path.chmod(0o600)


def subject(cn: str, orgs: Iterable[str] = ()) -> str:
    """An openssl -subj."""
    return "".join(f"/O={o}" for o in orgs) + f"/CN={cn}"


def write_ca(base: Path, cn: str, cluster: dict[str, Any]) -> None:
    """A self-signed CA (pkiutil.NewCertificateAuthority): base.crt + base.key."""
    key = base.with_suffix(".key")
    write_key(key, cluster["encryptionAlgorithm"])
    days = max(1, int(go_duration(cluster["caCertificateValidityPeriod"]) // 86400))
    _openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-days", str(days), "-sha256",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
             "-addext", "subjectAltName=DNS:" + cn, "-out", str(base.with_suffix(".crt")))
    base.with_suffix(".crt").chmod(0o644)


def sign_cert(base: Path, ca: Path, subj: str, usages: str, cluster: dict[str, Any],
              dns: Iterable[str] = (), ips: Iterable[str] = ()) -> bytes:
    """A key and a certificate signed by the CA at ca(.crt/.key) (pkiutil.NewCertAndKey); the PEM certificate."""
    key = base.with_suffix(".key")
    write_key(key, cluster["encryptionAlgorithm"])
    days = max(1, int(go_duration(cluster["certificateValidityPeriod"]) // 86400))
    switch = host(CERT_DAYS)
    if switch.exists() and switch.read_text().strip().isdigit():
        days = max(1, int(switch.read_text().strip()))
        standin.log_line(f"kubeadm: {CERT_DAYS}: {subj} issued for {days} days")
    with tempfile.TemporaryDirectory() as tmp:
        ext = Path(tmp, "ext.cnf")
        lines = ["keyUsage=critical,digitalSignature,keyEncipherment", f"extendedKeyUsage={usages}",
                 "basicConstraints=critical,CA:FALSE", "authorityKeyIdentifier=keyid"]
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        req = _openssl("req", "-new", "-key", str(key), "-subj", subj)
        Path(tmp, "req.csr").write_bytes(req)
        pem = _openssl("x509", "-req", "-in", str(Path(tmp, "req.csr")), "-CA", str(ca.with_suffix(".crt")),
                       "-CAkey", str(ca.with_suffix(".key")), "-CAcreateserial", "-CAserial",
                       str(Path(tmp, "serial")), "-days", str(days), "-sha256", "-extfile", str(ext))
    base.with_suffix(".crt").write_bytes(pem)
    return pem


def cert_exists(base: Path) -> bool:
    """Both halves of a certificate/key pair exist."""
    return base.with_suffix(".crt").exists() and base.with_suffix(".key").exists()


def apiserver_sans(cfg: InitCfg) -> tuple[list[str], list[str]]:
    """certs.GetAPIServerAltNames: DNS names and IPs of the API server's serving certificate."""
    dns = [cfg.name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           f"kubernetes.default.svc.{cfg.cluster['networking']['dnsDomain']}"]
    ips = [nth_ip(cfg.cluster["networking"]["serviceSubnet"], 1), cfg.advertise]
    extra = []
    if cfg.cluster["controlPlaneEndpoint"]:
        extra.append(split_host_port(cfg.cluster["controlPlaneEndpoint"])[0])
    extra += cfg.cluster["apiServer"]["certSANs"]
    for item in extra:
        target = ips if is_ip(item) else dns
        if item not in target:
            target.append(item)
    return sorted(set(dns), key=dns.index), sorted(set(ips), key=ips.index)


def etcd_sans(cfg: InitCfg, peer: bool) -> tuple[list[str], list[str]]:
    """certs.GetEtcdAltNames / GetEtcdPeerAltNames."""
    local = cfg.local_etcd or {}
    dns, ips = [cfg.name, "localhost"], [cfg.advertise, "127.0.0.1", "::1"]
    for item in local.get("peerCertSANs" if peer else "serverCertSANs") or []:
        (ips if is_ip(item) else dns).append(item)
    return dns, ips


def certs_phase(cfg: InitCfg, join: bool = False) -> None:
    """The certs phase: the CAs (init only; a control-plane join got them from kubeadm-certs), then every leaf."""
    pki = host(cfg.cluster["certificatesDir"])
    pki.mkdir(parents=True, exist_ok=True)
    say(f'[certs] Using certificateDir folder "{cfg.cluster["certificatesDir"]}"')
    cluster = cfg.cluster

    def ca(name: str, file: str, cn: str) -> None:
        if cert_exists(pki / file):
            say(f'[certs] Using existing {name} certificate authority')
            return
        if join:
            raise PhaseError("control-plane-prepare", f'couldn\'t load certificate authority "{name}" from disk')
        say(f'[certs] Generating "{name}" certificate and key')
        write_ca(pki / file, cn, cluster)

    def leaf(name: str, file: str, ca_file: str, subj: str, usages: str, dns: list[str] | None = None,
             ips: list[str] | None = None) -> None:
        if cert_exists(pki / file):
            say(f'[certs] Using existing {name} certificate and key on disk')
            return
        say(f'[certs] Generating "{name}" certificate and key')
        if dns is not None:
            say(f"[certs] {name} serving cert is signed for DNS names [{' '.join(sorted(dns))}] and IPs "
                f"[{' '.join(ips or [])}]")
        sign_cert(pki / file, pki / ca_file, subj, usages, cluster, dns or [], ips or [])

    ca("ca", "ca", "kubernetes")
    dns, ips = apiserver_sans(cfg)
    leaf("apiserver", "apiserver", "ca", subject("kube-apiserver"), "serverAuth", dns, ips)
    leaf("apiserver-kubelet-client", "apiserver-kubelet-client", "ca",
         subject("kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"]), "clientAuth")
    ca("front-proxy-ca", "front-proxy-ca", "front-proxy-ca")
    leaf("front-proxy-client", "front-proxy-client", "front-proxy-ca", subject("front-proxy-client"), "clientAuth")
    if cfg.local_etcd is not None:
        (pki / "etcd").mkdir(exist_ok=True)
        ca("etcd/ca", "etcd/ca", "etcd-ca")
        dns, ips = etcd_sans(cfg, peer=False)
        leaf("etcd/server", "etcd/server", "etcd/ca", subject(cfg.name), "serverAuth,clientAuth", dns, ips)
        dns, ips = etcd_sans(cfg, peer=True)
        leaf("etcd/peer", "etcd/peer", "etcd/ca", subject(cfg.name), "serverAuth,clientAuth", dns, ips)
        leaf("etcd/healthcheck-client", "etcd/healthcheck-client", "etcd/ca",
             subject("kube-etcd-healthcheck-client"), "clientAuth")
        leaf("apiserver-etcd-client", "apiserver-etcd-client", "etcd/ca", subject("kube-apiserver-etcd-client"),
             "clientAuth")
    if (pki / "sa.key").exists() and (pki / "sa.pub").exists():
        say('[certs] Using the existing "sa" key')
    else:
        say('[certs] Generating "sa" key and public key')
        write_key(pki / "sa.key", cluster["encryptionAlgorithm"])
        (pki / "sa.pub").write_bytes(_openssl("pkey", "-in", str(pki / "sa.key"), "-pubout"))
    if join:
        say(f'[certs] Valid certificates and keys now exist in "{cfg.cluster["certificatesDir"]}"')


# ---------------------------------------------------------------- kubeconfig files (phases/kubeconfig)

KUBECONFIG_USERS = {  # file -> (CN, organisations); kubeconfig.go getKubeConfigSpecsBase (1.29+: admin in a group)
    "admin.conf": ("kubernetes-admin", ["kubeadm:cluster-admins"]),
    "super-admin.conf": ("kubernetes-super-admin", ["system:masters"]),
    "controller-manager.conf": ("system:kube-controller-manager", []),
    "scheduler.conf": ("system:kube-scheduler", []),
}


def write_kubeconfig(file: str, server: str, cn: str, orgs: list[str], cfg: InitCfg) -> None:
    """One kubeconfig with an embedded client certificate signed by the cluster CA (0600)."""
    pki = host(cfg.cluster["certificatesDir"])
    with tempfile.TemporaryDirectory() as tmp:
        cert = sign_cert(Path(tmp, "client"), pki / "ca", subject(cn, orgs), "clientAuth", cfg.cluster)
        key = Path(tmp, "client.key").read_bytes()
    standin.write_private(host(f"{KDIR}/{file}"), standin.kubeconfig(
        f"https://{server}", (pki / "ca.crt").read_bytes(), cn, cert, key, cfg.cluster["clusterName"]))


def kubeconfig_phase(cfg: InitCfg, join: bool = False) -> None:
    """The kubeconfig phase: admin, super-admin (init only), kubelet (init only), controller-manager, scheduler."""
    if join:
        say("[kubeconfig] Generating kubeconfig files")
    say(f'[kubeconfig] Using kubeconfig folder "{KDIR}"')
    local = join_host_port(cfg.advertise, cfg.port)
    files = ["admin.conf", "controller-manager.conf", "scheduler.conf"] if join else [
        "admin.conf", "super-admin.conf", "kubelet.conf", "controller-manager.conf", "scheduler.conf"]
    for file in files:
        if host(f"{KDIR}/{file}").exists():
            say(f'[kubeconfig] Using existing kubeconfig file: "{KDIR}/{file}"')
            continue
        say(f'[kubeconfig] Writing "{file}" kubeconfig file')
        if file == "kubelet.conf":
            cn, orgs = f"system:node:{cfg.name}", ["system:nodes"]
        else:
            cn, orgs = KUBECONFIG_USERS[file]
        # controller-manager and scheduler talk to their local API server (kubeconfig.go: LocalAPIEndpoint)
        server = local if file in ("controller-manager.conf", "scheduler.conf") else cfg.control_plane_endpoint
        write_kubeconfig(file, server, cn, orgs, cfg)


# ---------------------------------------------------------------- static pod manifests (phases/etcd, controlplane)

def arguments_to_command(base: list[dict[str, str]], overrides: list[dict[str, str]]) -> list[str]:
    """kubeadmutil.ArgumentsToCommand: overrides replace base args by name, all sorted by name then value."""
    names = {a["name"] for a in overrides}
    args = list(overrides) + [a for a in base if a["name"] not in names]
    args.sort(key=lambda a: (a["name"], a["value"]))
    return [f"--{a['name']}={a['value']}" for a in args]


def _args(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def _probe(host_ip: str, path: str, port: int | str, scheme: str, failure: int, initial: int | None = 10,
           period: int = 10) -> dict[str, Any]:
    probe: dict[str, Any] = {"failureThreshold": failure, "httpGet": {"host": host_ip, "path": path, "port": port,
                                                                      "scheme": scheme}}
    if initial is not None:
        probe["initialDelaySeconds"] = initial
    probe.update({"periodSeconds": period, "timeoutSeconds": 15})
    return probe


def static_pod(name: str, image: str, command: list[str], volumes: list[dict[str, Any]], probes: dict[str, Any],
               cpu: str, annotations: dict[str, str], memory: str | None = None,
               ports: list[dict[str, Any]] | None = None, envs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """staticpodutil.ComponentPod: a kube-system Pod on the host network, system-node-critical."""
    requests = {"cpu": cpu, **({"memory": memory} if memory else {})}
    container: dict[str, Any] = {"command": command, **({"env": envs} if envs else {}), "image": image,
                                 "imagePullPolicy": "IfNotPresent", **probes, "name": name,
                                 **({"ports": ports} if ports else {}), "resources": {"requests": requests},
                                 "volumeMounts": [{"mountPath": v["mountPath"], "name": v["name"],
                                                   **({"readOnly": True} if v.get("readOnly") else {})}
                                                  for v in sorted(volumes, key=lambda v: v["mountPath"])]}
    container = {k: container[k] for k in sorted(container, key=lambda k: (k != "command", k))}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"annotations": annotations, "labels": {"component": name, "tier": "control-plane"},
                         "name": name, "namespace": "kube-system"},
            "spec": {"containers": [container], "hostNetwork": True, "priority": 2000001000,
                     "priorityClassName": "system-node-critical",
                     "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                     "volumes": [{"hostPath": {"path": v["hostPath"], "type": v.get("pathType") or "DirectoryOrCreate"},
                                  "name": v["name"]} for v in sorted(volumes, key=lambda v: v["name"])]},
            "status": {}}


def write_manifest(name: str, pod: dict[str, Any]) -> None:
    """/etc/kubernetes/manifests/<name>.yaml (0600, as staticpodutil.WriteStaticPodToDisk)."""
    path = host(f"{MANIFESTS}/{name}.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    standin.write_private(path, yaml.safe_dump(pod, sort_keys=False))


def image(cfg: InitCfg, component: str) -> str:
    """images.GetKubernetesImage / GetEtcdImage."""
    if component == "etcd":
        local = cfg.local_etcd or {}
        repo = local.get("imageRepository") or cfg.cluster["imageRepository"]
        return f"{repo}/etcd:{local.get('imageTag') or IMAGES[kube_minor()]['etcd']}"
    return f"{cfg.cluster['imageRepository']}/{component}:{cfg.cluster['kubernetesVersion']}"


def etcd_manifest(cfg: InitCfg, initial_cluster: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """etcd.GetEtcdPodSpec + getEtcdCommand (1.34+: etcd 3.6 flag names)."""
    local = cfg.local_etcd or {}
    pki = cfg.cluster["certificatesDir"]
    client, peer = f"https://{join_host_port(cfg.advertise, 2379)}", f"https://{join_host_port(cfg.advertise, 2380)}"
    base = {"name": cfg.name, "feature-gates": "InitialCorruptCheck=true", "watch-progress-notify-interval": "5s",
            "listen-client-urls": f"https://127.0.0.1:2379,{client}", "advertise-client-urls": client,
            "listen-peer-urls": peer, "initial-advertise-peer-urls": peer, "data-dir": local["dataDir"],
            "cert-file": f"{pki}/etcd/server.crt", "key-file": f"{pki}/etcd/server.key",
            "trusted-ca-file": f"{pki}/etcd/ca.crt", "client-cert-auth": "true",
            "peer-cert-file": f"{pki}/etcd/peer.crt", "peer-key-file": f"{pki}/etcd/peer.key",
            "peer-trusted-ca-file": f"{pki}/etcd/ca.crt", "peer-client-cert-auth": "true",
            "snapshot-count": "10000", "listen-metrics-urls": "http://127.0.0.1:2381"}
    if initial_cluster:
        base["initial-cluster"] = ",".join(f"{n}={u}" for n, u in initial_cluster)
        base["initial-cluster-state"] = "existing"
    else:
        base["initial-cluster"] = f"{cfg.name}={peer}"
    volumes = [{"name": "etcd-data", "hostPath": local["dataDir"], "mountPath": local["dataDir"]},
               {"name": "etcd-certs", "hostPath": f"{pki}/etcd", "mountPath": f"{pki}/etcd"}]
    probes = {"livenessProbe": _probe("127.0.0.1", "/livez", "probe-port", "HTTP", 8),
              "readinessProbe": _probe("127.0.0.1", "/readyz", "probe-port", "HTTP", 3, None, 1),
              "startupProbe": _probe("127.0.0.1", "/readyz", "probe-port", "HTTP", 24)}
    return static_pod("etcd", image(cfg, "etcd"), ["etcd", *arguments_to_command(_args(base), local["extraArgs"])],
                      volumes, probes, "100m", {"kubeadm.kubernetes.io/etcd.advertise-client-urls": client},
                      memory="100Mi", ports=[{"containerPort": 2381, "name": "probe-port", "protocol": "TCP"}],
                      envs=local.get("extraEnvs") or None)


def ca_volumes() -> list[dict[str, Any]]:
    """controlplane/volumes.go: the host's CA certificate directories, read-only."""
    out = [{"name": "ca-certs", "hostPath": "/etc/ssl/certs", "mountPath": "/etc/ssl/certs", "readOnly": True}]
    for name, path in (("etc-ca-certificates", "/etc/ca-certificates"), ("etc-pki", "/etc/pki"),
                       ("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates"),
                       ("usr-share-ca-certificates", "/usr/share/ca-certificates")):
        if name == "etc-pki" and not host(path).is_dir():
            continue
        out.append({"name": name, "hostPath": path, "mountPath": path, "readOnly": True})
    return out


def extra_volumes(section: dict[str, Any]) -> list[dict[str, Any]]:
    """extraVolumes as volumes (pathType default DirectoryOrCreate, as kubeadm's HostPathMount conversion)."""
    return [{"name": v["name"], "hostPath": v["hostPath"], "mountPath": v["mountPath"],
             "readOnly": bool(v.get("readOnly")), "pathType": v.get("pathType") or "DirectoryOrCreate"}
            for v in section.get("extraVolumes") or []]


def authz_modes(value: str | None) -> str:
    """getAuthzModes: Node and RBAC always present, Node first."""
    modes = [m for m in (value or "").split(",") if m]
    for mode in ("RBAC", "Node"):
        if mode not in modes:
            modes.insert(0, mode) if mode == "Node" else modes.append(mode)
    return ",".join(modes)


def apiserver_manifest(cfg: InitCfg) -> dict[str, Any]:
    """controlplane.GetStaticPodSpecs kube-apiserver (getAPIServerCommand)."""
    pki = cfg.cluster["certificatesDir"]
    net = cfg.cluster["networking"]
    section = cfg.cluster["apiServer"]
    base = {"advertise-address": cfg.advertise, "enable-admission-plugins": "NodeRestriction",
            "service-cluster-ip-range": net["serviceSubnet"], "service-account-key-file": f"{pki}/sa.pub",
            "service-account-signing-key-file": f"{pki}/sa.key",
            "service-account-issuer": f"https://kubernetes.default.svc.{net['dnsDomain']}",
            "client-ca-file": f"{pki}/ca.crt", "tls-cert-file": f"{pki}/apiserver.crt",
            "tls-private-key-file": f"{pki}/apiserver.key",
            "kubelet-client-certificate": f"{pki}/apiserver-kubelet-client.crt",
            "kubelet-client-key": f"{pki}/apiserver-kubelet-client.key", "enable-bootstrap-token-auth": "true",
            "secure-port": str(cfg.port), "allow-privileged": "true",
            "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
            "requestheader-username-headers": "X-Remote-User", "requestheader-group-headers": "X-Remote-Group",
            "requestheader-extra-headers-prefix": "X-Remote-Extra-",
            "requestheader-client-ca-file": f"{pki}/front-proxy-ca.crt",
            "requestheader-allowed-names": "front-proxy-client",
            "proxy-client-cert-file": f"{pki}/front-proxy-client.crt",
            "proxy-client-key-file": f"{pki}/front-proxy-client.key"}
    external = cfg.cluster["etcd"].get("external")
    if external:
        base["etcd-servers"] = ",".join(external.get("endpoints") or [])
        for flag, key in (("etcd-cafile", "caFile"), ("etcd-certfile", "certFile"), ("etcd-keyfile", "keyFile")):
            if external.get(key):
                base[flag] = external[key]
    else:
        local = "[::1]" if ":" in cfg.advertise else "127.0.0.1"
        base.update({"etcd-servers": arg_value(cfg.local_etcd["extraArgs"], "advertise-client-urls")
                     or f"https://{local}:2379", "etcd-cafile": f"{pki}/etcd/ca.crt",
                     "etcd-certfile": f"{pki}/apiserver-etcd-client.crt",
                     "etcd-keyfile": f"{pki}/apiserver-etcd-client.key"})
    extra = list(section["extraArgs"])
    if not arg_value(extra, "authorization-config"):
        mode = authz_modes(arg_value(extra, "authorization-mode"))
        extra = [a for a in extra if a["name"] != "authorization-mode"]
        extra.append({"name": "authorization-mode", "value": mode})
    volumes = ca_volumes() + [{"name": "k8s-certs", "hostPath": pki, "mountPath": pki, "readOnly": True}]
    volumes += extra_volumes(section)
    adv = cfg.advertise
    probes = {"livenessProbe": _probe(adv, "/livez", cfg.port, "HTTPS", 8),
              "readinessProbe": _probe(adv, "/readyz", cfg.port, "HTTPS", 3, None, 1),
              "startupProbe": _probe(adv, "/livez", cfg.port, "HTTPS", 24)}
    return static_pod("kube-apiserver", image(cfg, "kube-apiserver"),
                      ["kube-apiserver", *arguments_to_command(_args(base), extra)], volumes, probes, "250m",
                      {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint":
                       join_host_port(cfg.advertise, cfg.port)}, envs=section.get("extraEnvs") or None)


def controller_manager_manifest(cfg: InitCfg) -> dict[str, Any]:
    """controlplane.GetStaticPodSpecs kube-controller-manager (getControllerManagerCommand)."""
    pki = cfg.cluster["certificatesDir"]
    conf = f"{KDIR}/controller-manager.conf"
    base = {"bind-address": "127.0.0.1", "leader-elect": "true", "kubeconfig": conf,
            "authentication-kubeconfig": conf, "authorization-kubeconfig": conf, "client-ca-file": f"{pki}/ca.crt",
            "requestheader-client-ca-file": f"{pki}/front-proxy-ca.crt", "root-ca-file": f"{pki}/ca.crt",
            "service-account-private-key-file": f"{pki}/sa.key", "cluster-signing-cert-file": f"{pki}/ca.crt",
            "cluster-signing-key-file": f"{pki}/ca.key", "use-service-account-credentials": "true",
            "controllers": "*,bootstrapsigner,tokencleaner"}
    net = cfg.cluster["networking"]
    if net["podSubnet"]:
        base.update({"allocate-node-cidrs": "true", "cluster-cidr": net["podSubnet"],
                     "service-cluster-ip-range": net["serviceSubnet"]})
    base["cluster-name"] = cfg.cluster["clusterName"]
    section = cfg.cluster["controllerManager"]
    volumes = ca_volumes() + [
        {"name": "k8s-certs", "hostPath": pki, "mountPath": pki, "readOnly": True},
        {"name": "kubeconfig", "hostPath": conf, "mountPath": conf, "readOnly": True, "pathType": "FileOrCreate"},
        {"name": "flexvolume-dir", "hostPath": "/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
         "mountPath": "/usr/libexec/kubernetes/kubelet-plugins/volume/exec"}] + extra_volumes(section)
    probes = {"livenessProbe": _probe("127.0.0.1", "/healthz", 10257, "HTTPS", 8),
              "startupProbe": _probe("127.0.0.1", "/healthz", 10257, "HTTPS", 24)}
    return static_pod("kube-controller-manager", image(cfg, "kube-controller-manager"),
                      ["kube-controller-manager", *arguments_to_command(_args(base), section["extraArgs"])], volumes,
                      probes, "200m", {}, envs=section.get("extraEnvs") or None)


def scheduler_manifest(cfg: InitCfg) -> dict[str, Any]:
    """controlplane.GetStaticPodSpecs kube-scheduler (getSchedulerCommand)."""
    conf = f"{KDIR}/scheduler.conf"
    base = {"bind-address": "127.0.0.1", "leader-elect": "true", "kubeconfig": conf,
            "authentication-kubeconfig": conf, "authorization-kubeconfig": conf}
    section = cfg.cluster["scheduler"]
    volumes = [{"name": "kubeconfig", "hostPath": conf, "mountPath": conf, "readOnly": True,
                "pathType": "FileOrCreate"}] + extra_volumes(section)
    probes = {"livenessProbe": _probe("127.0.0.1", "/livez", 10259, "HTTPS", 8),
              "readinessProbe": _probe("127.0.0.1", "/readyz", 10259, "HTTPS", 3, None, 1),
              "startupProbe": _probe("127.0.0.1", "/livez", 10259, "HTTPS", 24)}
    return static_pod("kube-scheduler", image(cfg, "kube-scheduler"),
                      ["kube-scheduler", *arguments_to_command(_args(base), section["extraArgs"])], volumes, probes,
                      "100m", {}, envs=section.get("extraEnvs") or None)


def control_plane_phase(cfg: InitCfg) -> None:
    """The control-plane phase: the three manifests."""
    say(f'[control-plane] Using manifest folder "{MANIFESTS}"')
    for name, build in (("kube-apiserver", apiserver_manifest),
                        ("kube-controller-manager", controller_manager_manifest),
                        ("kube-scheduler", scheduler_manifest)):
        say(f'[control-plane] Creating static Pod manifest for "{name}"')
        write_manifest(name, build(cfg))


def etcd_phase(cfg: InitCfg) -> None:
    """The etcd phase (init): the data directory (0700) and the etcd manifest for a one-member cluster."""
    if cfg.local_etcd is None:
        return
    data = host(cfg.local_etcd["dataDir"])
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    say(f'[etcd] Creating static Pod manifest for local etcd in "{MANIFESTS}"')
    write_manifest("etcd", etcd_manifest(cfg))


# ---------------------------------------------------------------- kubelet files (phases/kubelet)

def kubelet_defaults(cluster: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """componentconfigs kubelet Default(): the cluster-wide KubeletConfiguration kubeadm writes and uploads."""
    cfg: dict[str, Any] = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                           "authentication": {"anonymous": {"enabled": False},
                                              "webhook": {"cacheTTL": "0s", "enabled": True},
                                              "x509": {"clientCAFile": f"{cluster['certificatesDir']}/ca.crt"}},
                           "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s",
                                                                            "cacheUnauthorizedTTL": "0s"}},
                           "cgroupDriver": "systemd",
                           "clusterDNS": [nth_ip(cluster["networking"]["serviceSubnet"], 10)],
                           "clusterDomain": cluster["networking"]["dnsDomain"], "healthzBindAddress": "127.0.0.1",
                           "healthzPort": 10248, "rotateCertificates": True, "staticPodPath": MANIFESTS}
    if host("/run/systemd/resolve/resolv.conf").exists():
        cfg["resolvConf"] = "/run/systemd/resolve/resolv.conf"
    if cluster.get("featureGates"):
        cfg["featureGates"] = dict(cluster["featureGates"])
    return {**cfg, **{k: v for k, v in user.items() if k not in ("apiVersion", "kind")}}


def write_kubelet_files(config: dict[str, Any], node: dict[str, Any], control_plane: bool, join: bool) -> None:
    """kubelet-start's files: kubeadm-flags.env, instance-config.yaml (NodeLocalCRISocket) and config.yaml."""
    kdir = host(KUBELET_DIR)
    kdir.mkdir(parents=True, exist_ok=True)
    flags = []
    if control_plane and node.get("taints"):  # registerTaintsUsingFlags for control-plane nodes (flags.go)
        flags.append({"name": "register-with-taints", "value": ",".join(
            f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}" for t in node["taints"])})
    if node["name"] != socket.gethostname().lower():
        flags.append({"name": "hostname-override", "value": node["name"]})
    env = f'KUBELET_KUBEADM_ARGS="{" ".join(arguments_to_command(flags, node["kubeletExtraArgs"]))}"\n'
    instance = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                "containerRuntimeEndpoint": node["criSocket"]}

    def write_env() -> None:
        say(f'[kubelet-start] Writing kubelet environment file with flags to file "{KUBELET_DIR}/kubeadm-flags.env"')
        (kdir / "kubeadm-flags.env").write_text(env)

    if not join:
        write_env()
    say(f'[kubelet-start] Writing kubelet configuration to file "{KUBELET_DIR}/instance-config.yaml"')
    (kdir / "instance-config.yaml").write_text(yaml.safe_dump(instance, sort_keys=False))
    say('[patches] Applied patch of type "application/strategic-merge-patch+json" to target "kubeletconfiguration"')
    say(f'[kubelet-start] Writing kubelet configuration to file "{KUBELET_DIR}/config.yaml"')
    (kdir / "config.yaml").write_text(yaml.safe_dump({**config, "containerRuntimeEndpoint": node["criSocket"]},
                                                     sort_keys=True))
    if join:
        write_env()


# ---------------------------------------------------------------- API helpers (util/apiclient)

def kube(path: Path) -> standin.Kube:
    """A client for a kubeconfig (kubeadm's clientset)."""
    return standin.Kube(path, user_agent="kubeadm")


def retry(action: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """wait.PollUntilContextTimeout around an API call: the last error when the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Fail as exc:
            if time.monotonic() > deadline:
                raise Fail(f"{what}: {exc}") from None
            time.sleep(interval)


def create_or_update(client: standin.Kube, collection: str, obj: dict[str, Any]) -> None:
    """apiclient.CreateOrUpdate: create, or replace the existing object."""
    try:
        client.request("POST", collection, obj)
    except ApiError as exc:
        if exc.code != 409:
            raise
        current = client.request("GET", f"{collection}/{obj['metadata']['name']}")
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
        client.request("PUT", f"{collection}/{obj['metadata']['name']}", obj)


def create_or_retain(client: standin.Kube, collection: str, obj: dict[str, Any]) -> None:
    """apiclient.CreateOrRetain*: create unless it exists."""
    try:
        client.request("POST", collection, obj)
    except ApiError as exc:
        if exc.code != 409:
            raise


RBAC = "/apis/rbac.authorization.k8s.io/v1"


def role(client: standin.Kube, ns: str, name: str, rules: list[dict[str, Any]], subjects: list[tuple[str, str]],
         cluster: bool = False) -> None:
    """A (Cluster)Role and its (Cluster)RoleBinding of the same name (CreateOrUpdate, as kubeadm's RBAC helpers)."""
    kind = "ClusterRole" if cluster else "Role"
    where = f"{RBAC}/clusterroles" if cluster else f"{RBAC}/namespaces/{ns}/roles"
    meta = {"name": name} if cluster else {"name": name, "namespace": ns}
    if rules:
        create_or_update(client, where, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
                                         "rules": rules})
    binding(client, ns, name, kind, name, subjects, cluster)


def binding(client: standin.Kube, ns: str, name: str, role_kind: str, role_name: str,
            subjects: list[tuple[str, str]], cluster: bool) -> None:
    """A (Cluster)RoleBinding to a role."""
    kind = "ClusterRoleBinding" if cluster else "RoleBinding"
    where = f"{RBAC}/clusterrolebindings" if cluster else f"{RBAC}/namespaces/{ns}/rolebindings"
    meta = {"name": name} if cluster else {"name": name, "namespace": ns}
    create_or_update(client, where, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": [{"kind": k, "name": n, **({"namespace": "kube-system"} if k == "ServiceAccount"
                                               else {"apiGroup": "rbac.authorization.k8s.io"})}
                     for k, n in subjects]})


def token_secret(token: str, ttl: float, usages: list[str], groups: list[str], description: str,
                 expires: str | None = None) -> dict[str, Any]:
    """bootstraptoken/v1 BootstrapTokenToSecret: Secret kube-system/bootstrap-token-<id>."""
    tid, secret = token.split(".")
    data = {"token-id": tid, "token-secret": secret}
    if description:
        data["description"] = description
    if expires or ttl > 0:
        data["expiration"] = expires or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ttl))
    for usage in usages:
        data[f"usage-bootstrap-{usage}"] = "true"
    if groups:
        data["auth-extra-groups"] = ",".join(groups)
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{tid}", "namespace": "kube-system"},
            "data": {k: standin.b64(v.encode()) for k, v in data.items()}}


def create_tokens(client: standin.Kube, tokens: list[dict[str, Any]], fail_if_exists: bool) -> None:
    """tokenphase.UpdateOrCreateTokens."""
    for token in tokens:
        secret = token_secret(token["token"], token.get("ttl", 0), token["usages"], token["groups"],
                              token.get("description", ""), str(token["expires"]) if token.get("expires") else None)
        if fail_if_exists and client.get(f"/api/v1/namespaces/kube-system/secrets/{secret['metadata']['name']}"):
            raise Fail(f"a token with id \"{token['token'].split('.')[0]}\" already exists")
        create_or_update(client, "/api/v1/namespaces/kube-system/secrets", secret)


def ca_hash_of(ca_pem: bytes) -> str:
    """pubkeypin.Hash: sha256 of the CA's SubjectPublicKeyInfo."""
    return standin.ca_hash(ca_pem)


def join_command(endpoint: str, token: str, ca_pem: bytes, certificate_key: str | None = None,
                 one_line: bool = False) -> str:
    """cmdutil.GetJoinWorkerCommand / GetJoinControlPlaneCommand (joinCommandTemplate)."""
    text = (f"kubeadm join {endpoint} --token {token} \\\n\t--discovery-token-ca-cert-hash {ca_hash_of(ca_pem)} ")
    if certificate_key:
        text += f"\\\n\t--control-plane --certificate-key {certificate_key}"
    return text.replace("\\\n", "") if one_line else text


# ---------------------------------------------------------------- init phases

def wait_http(url: str, timeout: float) -> tuple[bool, float, str]:
    """Poll a health URL (TLS unverified, as kubeadm's waiter) until HTTP 200: (ok, seconds, last error)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    start = time.monotonic()
    error = "context deadline exceeded"
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
                if resp.status == 200:
                    return True, time.monotonic() - start, ""
                error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            error = str(getattr(exc, "reason", exc))
        time.sleep(0.5)
    return False, time.monotonic() - start, error


KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"  # constants.KubeletHealthzPort
TLS_BOOTSTRAP_RETRY = 1.0  # constants.TLSBootstrapRetryInterval (cmd/kubeadm/app/constants/constants.go)
# constants.DiscoveryRetryInterval: discovery/token fetchKubeConfigWithTimeout polls cluster-info at once, then this often
DISCOVERY_RETRY = 5.0
# controlplane/manifests.go probes: kube-controller-manager :10257/healthz, kube-scheduler :10259/livez
COMPONENT_HEALTH = {"kube-controller-manager": "https://127.0.0.1:10257/healthz",
                    "kube-scheduler": "https://127.0.0.1:10259/livez"}


def wait_kubelet(timeout: float, phase: str) -> None:
    """WaitForKubelet: the kubelet's healthz on :10248."""
    say(f"[kubelet-check] Waiting for a healthy kubelet at {KUBELET_HEALTHZ}. This can take up to "
        f"{format_duration(timeout)}")
    ok, took, error = wait_http(KUBELET_HEALTHZ, timeout)
    if ok:
        say(f"[kubelet-check] The kubelet is healthy after {took:.9f}s")
        return
    say(f"[kubelet-check] The kubelet is not healthy after {took:.9f}s\n\nUnfortunately, an error has occurred, likely "
        "caused by:\n\t- The kubelet is not running\n\t- The kubelet is unhealthy due to a misconfiguration of the "
        "node in some way (required cgroups disabled)\n\nIf you are on a systemd-powered system, you can try to "
        "troubleshoot the error with the following commands:\n\t- 'systemctl status kubelet'\n\t- 'journalctl -xeu "
        "kubelet'\n")
    raise PhaseError(phase, f"failed while waiting for the kubelet to start: The HTTP call equal to 'curl -sSL "
                            f"{KUBELET_HEALTHZ}' returned error: Get \"{KUBELET_HEALTHZ}\": {error}\n")


def wait_control_plane(advertise: str, port: int, timeout: float, phase: str) -> None:
    """WaitForControlPlaneComponents (WaitForAllControlPlaneComponents): each component's health endpoint."""
    say(f"[control-plane-check] Waiting for healthy control plane components. This can take up to "
        f"{format_duration(timeout)}")
    urls = {"kube-apiserver": f"https://{join_host_port(advertise, port)}/livez", **COMPONENT_HEALTH}
    for name, url in urls.items():
        say(f"[control-plane-check] Checking {name} at {url}")
    results: dict[str, tuple[bool, float, str]] = {}
    threads = [threading.Thread(target=lambda n=n, u=u: results.__setitem__(n, wait_http(u, timeout)))
               for n, u in urls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = []
    for name, (ok, took, error) in sorted(results.items(), key=lambda r: r[1][1]):
        if ok:
            say(f"[control-plane-check] {name} is healthy after {took:.9f}s")
        else:
            say(f"[control-plane-check] {name} is not healthy after {took:.9f}s")
            failed.append(f'{name} check failed at {urls[name]}: Get "{urls[name]}": {error}')
    if failed:
        say("\nA control plane component may have crashed or exited when started by the container runtime.\nTo "
            "troubleshoot, list all containers using your preferred container runtimes CLI.\nHere is one example how "
            "you may list all running Kubernetes containers by using crictl:\n\t- 'crictl --runtime-endpoint "
            f"{DEFAULT_CRI} ps -a | grep kube | grep -v pause'\n")
        raise PhaseError(phase, "failed while waiting for the control plane to start: " + ", ".join(failed))


def admin_client(cfg: InitCfg) -> standin.Kube:
    """EnsureAdminClusterRoleBinding: bind kubeadm:cluster-admins to cluster-admin (with super-admin.conf when
    admin.conf is not yet allowed), then the admin.conf client."""
    admin = kube(host(f"{KDIR}/admin.conf"))
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "kubeadm:cluster-admins"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
           "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "kubeadm:cluster-admins"}]}

    def with_admin() -> str:
        try:
            admin.request("POST", f"{RBAC}/clusterrolebindings", crb)
        except ApiError as exc:
            if exc.code == 403:
                return "forbidden"
            if exc.code == 409:
                return "exists"
            raise
        return "exists"

    if retry(with_admin, cfg.timeouts["kubernetesAPICall"], "unable to create the ClusterRoleBinding") == "forbidden":
        superadmin = kube(host(f"{KDIR}/super-admin.conf"))
        retry(lambda: create_or_retain(superadmin, f"{RBAC}/clusterrolebindings", crb),
              cfg.timeouts["kubernetesAPICall"], "unable to create the ClusterRoleBinding by using super-admin.conf")
    return admin


def cluster_configuration_yaml(cluster: dict[str, Any]) -> str:
    """The ClusterConfiguration stored in kube-system/kubeadm-config (v1beta4, defaulted)."""
    doc = json.loads(json.dumps(cluster))
    for component in ("apiServer", "controllerManager", "scheduler"):
        doc[component] = {k: v for k, v in doc[component].items() if v}
    if doc["etcd"].get("local"):
        doc["etcd"]["local"] = {k: v for k, v in doc["etcd"]["local"].items() if v}
    return yaml.safe_dump(doc, sort_keys=True)


def upload_config_phase(client: standin.Kube, cfg: InitCfg) -> None:
    """upload-config: kubeadm-config and kubelet-config ConfigMaps and the roles that read them (uploadconfig.go,
    phases/kubelet/config.go)."""
    readers = [("Group", DEFAULT_TOKEN_GROUP), ("Group", "system:nodes")]
    say('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace')
    create_or_update(client, "/api/v1/namespaces/kube-system/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": cluster_configuration_yaml(cfg.cluster)}})
    role(client, "kube-system", "kubeadm:nodes-kubeadm-config",
         [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubeadm-config"], "verbs": ["get"]}],
         readers)
    say('[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the '
        "kubelets in the cluster")
    kubelet = kubelet_defaults(cfg.cluster, cfg.kubelet)
    create_or_update(client, "/api/v1/namespaces/kube-system/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubelet-config", "namespace": "kube-system"},
        "data": {"kubelet": yaml.safe_dump(kubelet, sort_keys=True)}})
    role(client, "kube-system", "kubeadm:kubelet-config",
         [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubelet-config"], "verbs": ["get"]}],
         readers)


# copycerts.go certsToTransfer: the shared CAs and the service-account key pair
CERTS_TO_TRANSFER = ("ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key")
ETCD_CERTS_TO_TRANSFER = ("etcd/ca.crt", "etcd/ca.key")


def aes_gcm(key: bytes) -> Any:
    """cryptoutil's AES-GCM (the kubeadm-certs Secret's encryption); needs python3-cryptography."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    return AESGCM(key)


def upload_certs(client: standin.Kube, cluster: dict[str, Any], key: str) -> None:
    """copycerts.UploadCerts: kubeadm-certs Secret (nonce || AES-GCM(cert)) owned by a 2h bootstrap token, and the
    role that lets joining nodes read it."""
    say('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
    cipher = aes_gcm(bytes.fromhex(key))
    pki = host(cluster["certificatesDir"])
    names = CERTS_TO_TRANSFER + (ETCD_CERTS_TO_TRANSFER if cluster["etcd"].get("local") is not None else ())
    data = {}
    for name in names:
        nonce = os.urandom(12)
        data[name.replace("/", "-")] = standin.b64(nonce + cipher.encrypt(nonce, (pki / name).read_bytes(), None))
    token = new_token()  # createShortLivedBootstrapToken: DefaultCertTokenDuration 2h
    create_tokens(client, [{"token": token, "ttl": 7200, "usages": [], "groups": [],
                            "description": "Proxy for managing TTL for the kubeadm-certs secret"}], True)
    owner = client.request("GET", f"/api/v1/namespaces/kube-system/secrets/bootstrap-token-{token.split('.')[0]}")
    create_or_update(client, "/api/v1/namespaces/kube-system/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "kubeadm-certs", "namespace": "kube-system", "ownerReferences": [{
            "apiVersion": "v1", "kind": "Secret", "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}]},
        "data": data})
    role(client, "kube-system", "kubeadm:kubeadm-certs",
         [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["kubeadm-certs"], "verbs": ["get"]}],
         [("Group", DEFAULT_TOKEN_GROUP)])


def mark_control_plane(client: standin.Kube, name: str, taints: list[dict[str, Any]] | None, timeout: float,
                       phase: str) -> None:
    """markcontrolplane.MarkControlPlane: the control-plane labels and taints on the Node (retried until it exists)."""
    labels = [CONTROL_PLANE_LABEL, EXCLUDE_LB_LABEL]
    say(f"[mark-control-plane] Marking the node {name} as control-plane by adding the labels: [{' '.join(labels)}]")
    if taints:
        shown = " ".join(f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}" for t in taints)
        say(f"[mark-control-plane] Marking the node {name} as control-plane by adding the taints [{shown}]")

    def patch() -> None:
        node = client.request("GET", f"/api/v1/nodes/{name}")
        node["metadata"].setdefault("labels", {}).update({label: "" for label in labels})
        current = node.setdefault("spec", {}).setdefault("taints", [])
        for taint in taints or []:
            if not any(t.get("key") == taint["key"] and t.get("effect") == taint["effect"] for t in current):
                current.append({k: v for k, v in taint.items() if v not in (None, "")})
        client.request("PUT", f"/api/v1/nodes/{name}", node)

    try:
        retry(patch, timeout, f'error patching Node "{name}"')
    except Fail as exc:
        raise PhaseError(phase, str(exc)) from None


def cluster_info_kubeconfig(server: str, ca_pem: bytes) -> str:
    """The kubeconfig in kube-public/cluster-info (clusterinfo.go: server and CA only)."""
    cluster = {"certificate-authority-data": standin.b64(ca_pem), "server": server}
    return yaml.safe_dump({"apiVersion": "v1", "clusters": [{"cluster": cluster, "name": ""}], "contexts": None,
                           "current-context": "", "kind": "Config", "preferences": {}, "users": None},
                          sort_keys=False)


def bootstrap_token_phase(client: standin.Kube, cfg: InitCfg) -> None:
    """bootstrap-token: the tokens, the RBAC of TLS bootstrapping and cluster-info (phases/bootstraptoken)."""
    for token in cfg.tokens:
        say(f"[bootstrap-token] Using token: {token['token']}")
    say("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles")
    create_tokens(client, cfg.tokens, False)
    group = [("Group", DEFAULT_TOKEN_GROUP)]
    say("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes")
    role(client, "", "kubeadm:get-nodes", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}], group,
         cluster=True)
    say("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get "
        "long term certificate credentials")
    binding(client, "", "kubeadm:kubelet-bootstrap", "ClusterRole", "system:node-bootstrapper", group, True)
    say("[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from "
        "a Node Bootstrap Token")
    binding(client, "", "kubeadm:node-autoapprove-bootstrap", "ClusterRole",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient", group, True)
    say("[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in "
        "the cluster")
    binding(client, "", "kubeadm:node-autoapprove-certificate-rotation", "ClusterRole",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [("Group", "system:nodes")], True)
    say('[bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace')
    ca_pem = host(f"{cfg.cluster['certificatesDir']}/ca.crt").read_bytes()
    create_or_update(client, "/api/v1/namespaces/kube-public/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": {"kubeconfig": cluster_info_kubeconfig(f"https://{cfg.control_plane_endpoint}", ca_pem)}})
    role(client, "kube-public", "kubeadm:bootstrap-signer-clusterinfo",
         [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"], "verbs": ["get"]}],
         [("User", "system:anonymous")])


def kubelet_finalize() -> None:
    """kubelet-finalize/enable-client-cert-rotation: point kubelet.conf at the rotated certificate, if there is one."""
    pem = f"{KUBELET_DIR}/pki/kubelet-client-current.pem"
    if not host(pem).exists():
        return
    say(f'[kubelet-finalize] Updating "{KDIR}/kubelet.conf" to point to a rotatable kubelet client certificate and key')
    path = host(f"{KDIR}/kubelet.conf")
    conf = yaml.safe_load(path.read_text())
    for user in conf.get("users") or []:
        user["user"] = {"client-certificate": pem, "client-key": pem}
    standin.write_private(path, yaml.safe_dump(conf, sort_keys=False))


def coredns_objects(cfg: InitCfg) -> list[tuple[str, dict[str, Any]]]:
    """phases/addons/dns: CoreDNS's ServiceAccount, RBAC, Corefile, Deployment and the kube-dns Service."""
    dns = cfg.cluster["dns"]
    repo = dns.get("imageRepository") or f"{cfg.cluster['imageRepository']}/coredns"
    img = f"{repo}/coredns:{dns.get('imageTag') or IMAGES[kube_minor()]['coredns']}"
    domain = cfg.cluster["networking"]["dnsDomain"]
    corefile = (".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    kubernetes "
                f"{domain} in-addr.arpa ip6.arpa {{\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n"
                "       ttl 30\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent "
                "1000\n    }\n    cache 30 {\n       disable success cluster.local\n       disable denial "
                "cluster.local\n    }\n    loop\n    reload\n    loadbalance\n}\n")
    labels = {"k8s-app": "kube-dns"}
    ns = "/api/v1/namespaces/kube-system"
    return [
        (f"{ns}/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                   "metadata": {"name": "coredns", "namespace": "kube-system"}}),
        (f"{RBAC}/clusterroles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                  "metadata": {"name": "system:coredns"},
                                  "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods",
                                                                              "namespaces"],
                                             "verbs": ["list", "watch"]},
                                            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                                             "verbs": ["list", "watch"]}]}),
        (f"{RBAC}/clusterrolebindings", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                         "metadata": {"name": "system:coredns"},
                                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                     "name": "system:coredns"},
                                         "subjects": [{"kind": "ServiceAccount", "name": "coredns",
                                                       "namespace": "kube-system"}]}),
        (f"{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "coredns", "namespace": "kube-system"},
                              "data": {"Corefile": corefile}}),
        ("/apis/apps/v1/namespaces/kube-system/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
                         "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                         {"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}],
                         "nodeSelector": {"kubernetes.io/os": "linux"},
                         "containers": [{"name": "coredns", "image": img, "imagePullPolicy": "IfNotPresent",
                                         "args": ["-conf", "/etc/coredns/Corefile"],
                                         "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                                                   {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                                                   {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}],
                                         "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns",
                                                           "readOnly": True}]}],
                         "dnsPolicy": "Default",
                         "volumes": [{"name": "config-volume", "configMap": {
                             "name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]}}]}}}}),
        (f"{ns}/services", {"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                         "labels": {**labels, "kubernetes.io/cluster-service": "true",
                                                    "kubernetes.io/name": "CoreDNS"},
                                         "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
                            "spec": {"selector": labels, "clusterIP": nth_ip(cfg.cluster["networking"]["serviceSubnet"],
                                                                             10),
                                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                                               {"name": "metrics", "port": 9153, "protocol": "TCP",
                                                "targetPort": 9153}]}}),
    ]


def kube_proxy_objects(cfg: InitCfg) -> list[tuple[str, dict[str, Any]]]:
    """phases/addons/proxy: kube-proxy's ServiceAccount, RBAC, ConfigMap and DaemonSet."""
    labels = {"k8s-app": "kube-proxy"}
    proxy = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
             "bindAddress": "0.0.0.0", "clusterCIDR": cfg.cluster["networking"]["podSubnet"],
             "clientConnection": {"kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf"}, "mode": "",
             **{k: v for k, v in cfg.proxy.items() if k not in ("apiVersion", "kind")}}
    kubeconfig = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"cluster": {"certificate-authority": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                                  "server": f"https://{cfg.control_plane_endpoint}"}, "name": "default"}],
        "contexts": [{"context": {"cluster": "default", "namespace": "default", "user": "default"},
                      "name": "default"}], "current-context": "default",
        "users": [{"name": "default", "user": {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}]},
        sort_keys=False)
    ns = "/api/v1/namespaces/kube-system"
    return [
        (f"{ns}/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                   "metadata": {"name": "kube-proxy", "namespace": "kube-system"}}),
        (f"{RBAC}/clusterrolebindings", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                         "metadata": {"name": "kubeadm:node-proxier"},
                                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                     "name": "system:node-proxier"},
                                         "subjects": [{"kind": "ServiceAccount", "name": "kube-proxy",
                                                       "namespace": "kube-system"}]}),
        (f"{RBAC}/namespaces/kube-system/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kube-proxy"],
                       "verbs": ["get"]}]}),
        (f"{RBAC}/namespaces/kube-system/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kube-proxy"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": DEFAULT_TOKEN_GROUP}]}),
        (f"{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                                           "labels": {"app": "kube-proxy"}},
                              "data": {"config.conf": yaml.safe_dump(proxy, sort_keys=True),
                                       "kubeconfig.conf": kubeconfig}}),
        ("/apis/apps/v1/namespaces/kube-system/daemonsets", {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "updateStrategy": {"type": "RollingUpdate"},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "priorityClassName": "system-node-critical", "serviceAccountName": "kube-proxy",
                         "hostNetwork": True, "nodeSelector": {"kubernetes.io/os": "linux"},
                         "tolerations": [{"operator": "Exists"}],
                         "containers": [{"name": "kube-proxy", "image": image(cfg, "kube-proxy"),
                                         "imagePullPolicy": "IfNotPresent",
                                         "command": ["/usr/local/bin/kube-proxy",
                                                     "--config=/var/lib/kube-proxy/config.conf",
                                                     "--hostname-override=$(NODE_NAME)"],
                                         "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {
                                             "apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
                                         "securityContext": {"privileged": True},
                                         "volumeMounts": [{"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"},
                                                          {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
                                                          {"name": "lib-modules", "mountPath": "/lib/modules",
                                                           "readOnly": True}]}],
                         "volumes": [{"name": "kube-proxy", "configMap": {"name": "kube-proxy"}},
                                     {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock",
                                                                           "type": "FileOrCreate"}},
                                     {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}}]}}}}),
    ]


def addon_phase(client: standin.Kube, cfg: InitCfg, skipped: Callable[[str], bool]) -> None:
    """addon/coredns and addon/kube-proxy (each skipped when disabled or listed in skipPhases)."""
    for sub, disabled, objects, label in (("coredns", cfg.cluster["dns"].get("disabled"), coredns_objects, "CoreDNS"),
                                          ("kube-proxy", cfg.cluster["proxy"].get("disabled"), kube_proxy_objects,
                                           "kube-proxy")):
        if disabled or skipped(f"addon/{sub}"):
            continue
        for collection, obj in objects(cfg):
            create_or_update(client, collection, obj)
        say(f"[addons] Applied essential addon: {label}")


def show_join_command(cfg: InitCfg, uploaded_key: str | None) -> None:
    """show-join-command (phases/init/showjoincommand.go)."""
    ca_pem = host(f"{cfg.cluster['certificatesDir']}/ca.crt").read_bytes()
    token = cfg.tokens[0]["token"]
    say("\nYour Kubernetes control-plane has initialized successfully!\n\nTo start using your cluster, you need to run "
        "the following as a regular user:\n\n  mkdir -p $HOME/.kube\n  sudo cp -i /etc/kubernetes/admin.conf "
        "$HOME/.kube/config\n  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nAlternatively, if you are the root "
        "user, you can run:\n\n  export KUBECONFIG=/etc/kubernetes/admin.conf\n\nYou should now deploy a pod network "
        "to the cluster.\nRun \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:\n  "
        "https://kubernetes.io/docs/concepts/cluster-administration/addons/\n")
    if cfg.cluster["controlPlaneEndpoint"]:
        say("You can now join any number of control-plane nodes running the following command on each as root:\n")
        say("  " + join_command(cfg.control_plane_endpoint, token, ca_pem, uploaded_key or "<value withheld>")
            .replace("\n", "\n  ") + "\n")
        if uploaded_key:
            say("Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\nAs a "
                "safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n\"kubeadm init "
                "phase upload-certs --upload-certs\" to reload certs afterward.\n")
    say("Then you can join any number of worker nodes by running the following on each as root:\n")
    say(join_command(cfg.control_plane_endpoint, token, ca_pem))


# ---------------------------------------------------------------- the phase runner (cmd/phases/workflow)

def systemctl(*args: str) -> None:
    """systemctl on the node (initsystem.SystemdInitSystem); failures are logged, as TryStartKubelet ignores them."""
    standin.systemctl(*args)


class Workflow:
    """Runs phases in order, honouring skipPhases and the lab's failure switch (standin-fail-after)."""

    def __init__(self, skip: list[str]) -> None:
        self.skip = set(skip)
        switch = host(FAIL_AFTER)
        self.fail_after = switch.read_text().strip() if switch.exists() else ""

    def skipped(self, name: str) -> bool:
        """Whether a phase (or its parent) is in --skip-phases / skipPhases."""
        return name in self.skip or name.split("/")[0] in self.skip

    def run(self, name: str, action: Callable[[], Any]) -> None:
        """Run one phase: errors become `error execution phase <name>: ...`."""
        if self.skipped(name):
            return
        standin.log_line(f"kubeadm: phase {name}")  # the lab's record of where a run's time goes (timestamped)
        try:
            action()
        except PhaseError:
            raise
        except Fail as exc:
            raise PhaseError(name, str(exc)) from None
        self.after(name)

    def after(self, name: str) -> None:
        """Stop here when the lab's switch names this phase (TEST DOUBLE failure injection)."""
        if self.fail_after and self.fail_after == name:
            standin.log_line(f"kubeadm: failure injected after phase {name} ({FAIL_AFTER})")
            raise PhaseError(name, f"TEST DOUBLE: failure injected after phase \"{name}\" by {FAIL_AFTER}")


# ---------------------------------------------------------------- flags (cmd/kubeadm/app/cmd/options)

S_, B_, L_ = "str", "bool", "list"
COMMON_FLAGS = {"v": S_, "rootfs": S_, "log-file": S_, "help": B_}
FLAGS: dict[tuple[str, ...], dict[str, str]] = {
    ("init",): {"apiserver-advertise-address": S_, "apiserver-bind-port": S_, "apiserver-cert-extra-sans": L_,
                "cert-dir": S_, "certificate-key": S_, "config": S_, "control-plane-endpoint": S_, "cri-socket": S_,
                "dry-run": B_, "feature-gates": S_, "ignore-preflight-errors": L_, "image-repository": S_,
                "kubernetes-version": S_, "node-name": S_, "patches": S_, "pod-network-cidr": S_, "service-cidr": S_,
                "service-dns-domain": S_, "skip-certificate-key-print": B_, "skip-phases": L_,
                "skip-token-print": B_, "token": S_, "token-ttl": S_, "upload-certs": B_},
    ("init", "phase", "upload-certs"): {"certificate-key": S_, "config": S_, "dry-run": B_, "kubeconfig": S_,
                                        "skip-certificate-key-print": B_, "upload-certs": B_},
    ("join",): {"apiserver-advertise-address": S_, "apiserver-bind-port": S_, "certificate-key": S_, "config": S_,
                "control-plane": B_, "cri-socket": S_, "discovery-file": S_, "discovery-token": S_,
                "discovery-token-ca-cert-hash": L_, "discovery-token-unsafe-skip-ca-verification": B_, "dry-run": B_,
                "ignore-preflight-errors": L_, "node-name": S_, "patches": S_, "skip-phases": L_,
                "tls-bootstrap-token": S_, "token": S_},
    ("reset",): {"cert-dir": S_, "cleanup-tmp-dir": B_, "config": S_, "cri-socket": S_, "dry-run": B_, "force": B_,
                 "ignore-preflight-errors": L_, "kubeconfig": S_, "skip-phases": L_},
    ("token", "create"): {"certificate-key": S_, "config": S_, "description": S_, "groups": L_,
                          "print-join-command": B_, "ttl": S_, "usages": L_, "dry-run": B_, "kubeconfig": S_},
    ("token", "list"): {"dry-run": B_, "kubeconfig": S_, "output": S_, "allow-missing-template-keys": B_},
    ("token", "delete"): {"dry-run": B_, "kubeconfig": S_},
    ("token", "generate"): {},
    ("version",): {"output": S_},
    ("certs", "check-expiration"): {"cert-dir": S_, "config": S_, "kubeconfig": S_, "output": S_},
    ("certs", "certificate-key"): {},
    ("certs", "renew", "all"): {"cert-dir": S_, "config": S_, "kubeconfig": S_},
    ("config", "images", "list"): {"config": S_, "feature-gates": S_, "image-repository": S_,
                                   "kubernetes-version": S_, "output": S_, "allow-missing-template-keys": B_},
    ("config", "images", "pull"): {"config": S_, "cri-socket": S_, "feature-gates": S_, "image-repository": S_,
                                   "kubernetes-version": S_},
    ("config", "validate"): {"config": S_, "allow-experimental-api": B_},
    # cmd/kubeadm/app/cmd/upgrade/{plan,apply,node}.go and common.go addApplyFlags/addUpgradeFlags
    ("upgrade", "plan"): {"allow-experimental-upgrades": B_, "allow-release-candidate-upgrades": B_, "config": S_,
                          "ignore-preflight-errors": L_, "kubeconfig": S_, "output": S_, "print-config": B_,
                          "show-managed-fields": B_, "allow-missing-template-keys": B_},
    ("upgrade", "apply"): {"allow-experimental-upgrades": B_, "allow-release-candidate-upgrades": B_,
                           "certificate-renewal": B_, "config": S_, "dry-run": B_, "etcd-upgrade": B_, "force": B_,
                           "ignore-preflight-errors": L_, "kubeconfig": S_, "patches": S_, "print-config": B_,
                           "skip-phases": L_, "yes": B_},
    ("upgrade", "node"): {"certificate-renewal": B_, "config": S_, "dry-run": B_, "etcd-upgrade": B_,
                          "ignore-preflight-errors": L_, "kubeconfig": S_, "patches": S_, "skip-phases": L_},
}
SHORTHANDS = {"f": "force", "o": "output", "y": "yes"}


def parse(command: tuple[str, ...], argv: list[str]) -> tuple[dict[str, Any], list[str], list[str]]:
    """(flags, positional args, names of the flags given) like cobra/pflag; unknown flags fail as pflag says."""
    known = {**COMMON_FLAGS, **FLAGS[command], **{k: FLAGS[command][v] for k, v in SHORTHANDS.items()
                                                  if v in FLAGS[command]}}
    flags, args = standin.parse_flags(argv, known)
    for short, long in SHORTHANDS.items():
        if short in flags:
            flags[long] = flags.pop(short)
    return flags, args, sorted(flags)


def validate_mixed(given: list[str]) -> None:
    """ValidateMixedArguments (apis/kubeadm/validation/validation.go isAllowedFlag)."""
    if "config" not in given:
        return
    allowed = {"config", "ignore-preflight-errors", "dry-run", "kubeconfig", "node-name", "kubeconfig-dir",
               "upload-certs", "print-join-command", "rootfs", "v", "log-file"}
    mixed = [f for f in given if f not in allowed and not f.startswith("skip-")]
    if mixed:
        raise Fail(f"can not mix '--config' with arguments [{' '.join(mixed)}]")


def read_config(path: str) -> str:
    """The --config file (LoadInitConfigurationFromFile's error when unreadable)."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise Fail(f'unable to read config from "{path}" : {exc}') from None


# ---------------------------------------------------------------- kubeadm init

def cmd_init(flags: dict[str, Any], args: list[str], given: list[str], probe: Probe | None = None) -> None:
    """kubeadm init: the init workflow."""
    if args:
        raise Fail(f'unknown command "{args[0]}" for "kubeadm init"')
    validate_mixed(given)
    config = load(read_config(flags["config"]), "init") if flags.get("config") else Config({}, {})
    cfg = InitCfg(config, flags)
    cfg.validate()
    probe = probe or Probe()
    ignored = ignored_set(list(flags.get("ignore-preflight-errors") or []) +
                          list(cfg.node.get("ignorePreflightErrors") or []))
    say(f"[init] Using Kubernetes version: {cfg.cluster['kubernetesVersion']}")
    flow = Workflow(cfg.skip_phases)

    def preflight() -> None:
        say("[preflight] Running pre-flight checks")
        root_check(ignored, probe)
        run_checks(init_checks(cfg, probe), ignored)
        image_pull(cfg.cluster, probe)

    def kubelet_start() -> None:
        systemctl("stop", "kubelet.service")  # TryStopKubelet
        write_kubelet_files(kubelet_defaults(cfg.cluster, cfg.kubelet), cfg.node, control_plane=True, join=False)
        say("[kubelet-start] Starting the kubelet")
        systemctl("restart", "kubelet.service")  # TryStartKubelet

    def wait() -> None:
        say(f'[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory '
            f'"{MANIFESTS}"')
        wait_kubelet(cfg.timeouts["kubeletHealthCheck"], "wait-control-plane")
        wait_control_plane(cfg.advertise, cfg.port, cfg.timeouts["controlPlaneComponentHealthCheck"],
                           "wait-control-plane")

    client: list[standin.Kube] = []

    def api() -> standin.Kube:
        if not client:
            client.append(admin_client(cfg))
        return client[0]

    uploaded: list[str] = []

    def upload() -> None:
        if not flags.get("upload-certs"):
            say("[upload-certs] Skipping phase. Please see --upload-certs")
            return
        key = cfg.certificate_key or secrets.token_hex(32)
        upload_certs(api(), cfg.cluster, key)
        if not flags.get("skip-certificate-key-print"):
            say(f"[upload-certs] Using certificate key:\n{key}")
        uploaded.append(key)

    flow.run("preflight", preflight)
    flow.run("certs", lambda: certs_phase(cfg))
    flow.run("kubeconfig", lambda: kubeconfig_phase(cfg))
    flow.run("etcd", lambda: etcd_phase(cfg))
    flow.run("control-plane", lambda: control_plane_phase(cfg))
    flow.run("kubelet-start", kubelet_start)
    flow.run("wait-control-plane", wait)
    flow.run("upload-config", lambda: upload_config_phase(api(), cfg))
    flow.run("upload-certs", upload)
    flow.run("mark-control-plane", lambda: mark_control_plane(api(), cfg.name, cfg.node.get("taints"),
                                                              cfg.timeouts["kubernetesAPICall"], "mark-control-plane"))
    flow.run("bootstrap-token", lambda: bootstrap_token_phase(api(), cfg))
    flow.run("kubelet-finalize", kubelet_finalize)
    flow.run("addon", lambda: addon_phase(api(), cfg, flow.skipped))
    flow.run("show-join-command", lambda: show_join_command(cfg, uploaded[0] if uploaded else None))


def cmd_upload_certs(flags: dict[str, Any], args: list[str], given: list[str]) -> None:
    """kubeadm init phase upload-certs."""
    validate_mixed(given)
    if not flags.get("upload-certs"):
        say("[upload-certs] Skipping phase. Please see --upload-certs")
        return
    config = load(read_config(flags["config"]), "init") if flags.get("config") else Config({}, {})
    cfg = InitCfg(config, flags)
    cfg.validate()
    key = cfg.certificate_key or secrets.token_hex(32)
    client = kube(Path(flags.get("kubeconfig") or host(f"{KDIR}/admin.conf")))
    try:
        upload_certs(client, cfg.cluster, key)
    except Fail as exc:
        raise PhaseError("upload-certs", f"error uploading certs: {exc}") from None
    if not flags.get("skip-certificate-key-print"):
        say(f"[upload-certs] Using certificate key:\n{key}")


# ---------------------------------------------------------------- kubeadm join

def insecure_context() -> ssl.SSLContext:
    """TLS without verification (discovery's first, unauthenticated cluster-info fetch)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def jws_valid(signature: str, content: str, token_id: str, token_secret: str) -> bool:
    """bootstrap.DetachedTokenIsValid: the detached HS256 JWS over content with the token secret."""
    try:
        header_b64, _, sig_b64 = signature.split(".")
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    except ValueError:
        return False
    if header.get("kid") != token_id or header.get("alg") != "HS256":
        return False
    payload = base64.urlsafe_b64encode(content.encode()).rstrip(b"=").decode()
    expected = hmac.new(token_secret.encode(), f"{header_b64}.{payload}".encode(), hashlib.sha256).digest()
    got = base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))
    return hmac.compare_digest(expected, got)


def discover(cfg: JoinCfg) -> tuple[bytes, str]:
    """discovery/token RetrieveValidatedConfigInfo: cluster-info fetched insecurely until it carries this token's
    JWS signature, the signature and the CA pin checked; (CA PEM, API server URL)."""
    tid, secret = cfg.token.split(".")
    url = f"https://{cfg.api_server}/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s"
    deadline = time.monotonic() + cfg.timeouts["discovery"]
    while True:
        try:
            info = standin.request(insecure_context(), "GET", url, timeout=10)
            if f"jws-kubeconfig-{tid}" in (info.get("data") or {}):
                break
            error = f'could not find a JWS signature in the cluster-info ConfigMap for token ID "{tid}"'
        except Fail as exc:
            error = str(exc)
        if time.monotonic() > deadline:
            raise Fail(f"couldn't validate the identity of the API Server: {error}")
        time.sleep(DISCOVERY_RETRY)
    content = info["data"]["kubeconfig"]
    if not jws_valid(info["data"][f"jws-kubeconfig-{tid}"], content, tid, secret):
        raise Fail("couldn't validate the identity of the API Server: failed to verify JWS signature of received "
                   "cluster info object, can't trust this API Server")
    cluster = (yaml.safe_load(content).get("clusters") or [{}])[0].get("cluster") or {}
    ca_pem = base64.b64decode(cluster.get("certificate-authority-data", ""))
    if not cfg.unsafe:
        actual = ca_hash_of(ca_pem)
        if actual not in cfg.ca_hashes:
            raise Fail(f"couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap "
                       f'is invalid: none of the public keys "{actual}" are pinned')
    return ca_pem, str(cluster.get("server") or f"https://{cfg.api_server}")


class JoinRun:
    """What a join learns on the way: the CA, the server, the bootstrap-token client, the cluster's config."""

    def __init__(self, cfg: JoinCfg) -> None:
        self.cfg = cfg
        self.ca_pem = b""
        self.server = ""
        self.tmp = tempfile.TemporaryDirectory()
        self.token_client: standin.Kube | None = None
        self.cluster: InitCfg | None = None

    def bootstrap_kubeconfig(self, cluster_name: str) -> str:
        """The TLS bootstrap kubeconfig (user tls-bootstrap-token-user with the token)."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"cluster": {"certificate-authority-data": standin.b64(self.ca_pem), "server": self.server},
                          "name": cluster_name}],
            "contexts": [{"context": {"cluster": cluster_name, "user": "tls-bootstrap-token-user"},
                          "name": f"tls-bootstrap-token-user@{cluster_name}"}],
            "current-context": f"tls-bootstrap-token-user@{cluster_name}", "preferences": {},
            "users": [{"name": "tls-bootstrap-token-user", "user": {"token": self.cfg.tls_token}}]}, sort_keys=False)

    def discover(self) -> None:
        """Discovery, then the cluster's ClusterConfiguration read with the bootstrap token."""
        self.ca_pem, self.server = discover(self.cfg)
        path = Path(self.tmp.name, "bootstrap.conf")
        path.write_text(self.bootstrap_kubeconfig("kubernetes"))
        self.token_client = kube(path)
        say('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
        say("[preflight] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.")
        client = self.token_client
        found = retry(lambda: client.request("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"),
                      self.cfg.timeouts["kubernetesAPICall"], "unable to fetch the kubeadm-config ConfigMap")
        self.cluster = cluster_init_cfg(yaml.safe_load(found["data"]["ClusterConfiguration"]), self.cfg)


def cluster_init_cfg(cluster_doc: dict[str, Any], join: JoinCfg) -> InitCfg:
    """The InitConfiguration a control-plane join works from: the cluster's ClusterConfiguration with this node's
    registration and API endpoint (FetchInitConfigurationFromCluster + the JoinConfiguration)."""
    cfg = InitCfg(Config({"ClusterConfiguration": cluster_doc}, {"ClusterConfiguration": "v1beta4"}), {},
                  lookup=False, detect=False)
    cfg.node = join.node
    cfg.endpoint = dict(join.endpoint)
    cfg.certificate_key = join.certificate_key
    cfg.timeouts = join.timeouts
    return cfg


def download_certs(client: standin.Kube, cluster: dict[str, Any], key: str) -> None:
    """copycerts.DownloadCerts: decrypt kubeadm-certs with the certificate key into the certificate directory."""
    say('[download-certs] Downloading the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
    secret = client.get("/api/v1/namespaces/kube-system/secrets/kubeadm-certs")
    if secret is None:
        raise Fail('error downloading the secret: Secret "kubeadm-certs" was not found in the "kube-system" Namespace. '
                   "This Secret might have expired. Please, run `kubeadm init phase upload-certs --upload-certs` on a "
                   "control plane to generate a new one")
    cipher = aes_gcm(bytes.fromhex(key))
    files = {}
    names = CERTS_TO_TRANSFER + (ETCD_CERTS_TO_TRANSFER if cluster["etcd"].get("local") is not None else ())
    for name in names:
        raw = base64.b64decode((secret.get("data") or {}).get(name.replace("/", "-"), ""))
        try:
            files[name] = cipher.decrypt(raw[:12], raw[12:], None)
        except Exception:  # noqa: BLE001 - cryptography raises InvalidTag (and ValueError for short data)
            raise Fail("error decoding secret data with provided key: cipher: message authentication failed") from None
    say(f'[download-certs] Saving the certificates to the folder: "{cluster["certificatesDir"]}"')
    pki = host(cluster["certificatesDir"])
    for name, data in files.items():
        path = pki / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o600 if name.endswith(".key") else 0o644)


def etcd_client(client: standin.Kube, pki: str, timeout: float) -> standin.Etcd:
    """etcdutil.NewFromCluster: the members' client URLs from the etcd Pods' annotation, healthcheck-client cert."""
    def endpoints() -> list[str]:
        pods = client.request("GET", "/api/v1/namespaces/kube-system/pods?labelSelector=component%3Detcd%2C"
                                     "tier%3Dcontrol-plane")["items"]
        found = [p["metadata"].get("annotations", {}).get("kubeadm.kubernetes.io/etcd.advertise-client-urls")
                 for p in pods]
        if not [u for u in found if u]:
            raise Fail("could not retrieve the list of etcd endpoints: etcd Pods carry no "
                       "kubeadm.kubernetes.io/etcd.advertise-client-urls annotation yet")
        return [u for u in found if u]
    urls = retry(endpoints, timeout, "error getting the etcd endpoints", interval=1)
    files = [str(host(f"{pki}/etcd/ca.crt")), str(host(f"{pki}/etcd/healthcheck-client.crt")),
             str(host(f"{pki}/etcd/healthcheck-client.key"))]
    for file in files:
        if not Path(file).exists():
            raise Fail(f"open {file.removeprefix(str(ROOT).rstrip('/'))}: no such file or directory")
    etcd = standin.Etcd(urls, *files)
    try:  # clientv3 Sync: every member's client URLs
        members = etcd.call("/v3/cluster/member/list", {}).get("members") or []
        synced = [u for m in members for u in m.get("clientURLs") or []]
        if synced:
            etcd = standin.Etcd(synced, *files)
    except standin.EtcdError:
        pass
    return etcd


def add_etcd_member(etcd: standin.Etcd, name: str, peer: str, timeout: float) -> list[tuple[str, str]]:
    """Client.AddMemberAsLearner: the member list with the new member (an existing peer URL is not an error)."""
    def add() -> list[dict[str, Any]]:
        try:
            return list(etcd.call("/v3/cluster/member/add", {"peerURLs": [peer], "isLearner": True})["members"])
        except standin.EtcdError as exc:
            if "Peer URLs already exists" not in str(exc) and "peerURL exists" not in str(exc):
                raise Fail(str(exc)) from None
            return list(etcd.call("/v3/cluster/member/list", {}).get("members") or [])
    members = retry(add, timeout, "etcdserver: member add failed", interval=2)
    out = []
    for member in members:
        url = (member.get("peerURLs") or [""])[0]
        out.append((name if url == peer else member.get("name") or format(int(member.get("ID", 0)), "x"), url))
    return out


def promote_etcd_member(etcd: standin.Etcd, peer: str, timeout: float) -> None:
    """Client.MemberPromote: retried until the learner is in sync with the leader."""
    def promote() -> None:
        members = etcd.call("/v3/cluster/member/list", {}).get("members") or []
        member = next((m for m in members if peer in (m.get("peerURLs") or [])), None)
        if member is None:
            raise Fail(f"no member with peer URL {peer}")
        if not member.get("isLearner"):
            return
        try:
            etcd.call("/v3/cluster/member/promote", {"ID": member["ID"]})
        except standin.EtcdError as exc:
            raise Fail(str(exc)) from None
    retry(promote, timeout, "etcdserver: the learner could not be promoted", interval=1)


def wait_etcd_member(etcd: standin.Etcd, peer: str, timeout: float) -> None:
    """WaitForClusterAvailable: every endpoint, the new one included, answers a status call."""
    def started() -> None:
        members = etcd.call("/v3/cluster/member/list", {}).get("members") or []
        member = next((m for m in members if peer in (m.get("peerURLs") or [])), None)
        if member is None or not member.get("name") or member.get("isLearner"):
            raise Fail("the new etcd member has not started yet")
        etcd.call("/v3/maintenance/status", {})
    try:
        retry(lambda: _etcd_guard(started), timeout, "timeout waiting for etcd cluster to be available", interval=1)
    except Fail as exc:
        raise Fail(str(exc)) from None


def _etcd_guard(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except standin.EtcdError as exc:
        raise Fail(str(exc)) from None


def cmd_join(flags: dict[str, Any], args: list[str], given: list[str], probe: Probe | None = None) -> None:
    """kubeadm join: the join workflow."""
    validate_mixed(given)
    if flags.get("config") and args:
        raise Fail("can not mix '--config' with arguments [apiServerEndpoint]")  # newJoinData
    config = load(read_config(flags["config"]), "join") if flags.get("config") else Config({}, {})
    cfg = JoinCfg(config, flags, args)
    cfg.validate()
    probe = probe or Probe()
    ignored = ignored_set(list(flags.get("ignore-preflight-errors") or []) +
                          list(cfg.node.get("ignorePreflightErrors") or []))
    flow = Workflow(cfg.skip_phases)
    run = JoinRun(cfg)

    def preflight() -> None:
        say("[preflight] Running pre-flight checks")
        root_check(ignored, probe)
        run_checks(join_checks(cfg, probe), ignored)
        run.discover()
        assert run.cluster is not None
        if cfg.control_plane:
            if not run.cluster.cluster["controlPlaneEndpoint"]:
                raise Fail("\nOne or more conditions for hosting a new control plane instance is not satisfied.\n\n"
                           "unable to add a new control plane instance to a cluster that doesn't have a stable "
                           "controlPlaneEndpoint address\n\nPlease ensure that:\n* The cluster has a stable "
                           "controlPlaneEndpoint address.\n* The certificates that must be shared among control plane "
                           "instances are provided.\n")
            say("[preflight] Running pre-flight checks before initializing the new control plane instance")
            run_checks(init_checks(run.cluster, probe, secondary=True), ignored)
            image_pull(run.cluster.cluster, probe)

    def cp() -> InitCfg:
        assert run.cluster is not None
        return run.cluster

    def admin() -> standin.Kube:
        return kube(host(f"{KDIR}/admin.conf"))

    def kubelet_start() -> None:
        assert run.token_client is not None
        cluster_name = cp().cluster["clusterName"]
        ca_path = host(cfg.ca_cert_path)
        ca_path.parent.mkdir(parents=True, exist_ok=True)
        if not ca_path.exists():
            ca_path.write_bytes(run.ca_pem)
        standin.write_private(host(f"{KDIR}/bootstrap-kubelet.conf"), run.bootstrap_kubeconfig(cluster_name))
        node = run.token_client.get(f"/api/v1/nodes/{cfg.name}")
        for cond in ((node or {}).get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("status") == "True":
                raise Fail(f'a Node with name "{cfg.name}" and status "Ready" already exists in the cluster. You must '
                           "delete the existing Node or change the name of this new joining Node")
        kubelet_cm = retry(lambda: run.token_client.request(
            "GET", "/api/v1/namespaces/kube-system/configmaps/kubelet-config"), cfg.timeouts["kubernetesAPICall"],
            "error downloading kubelet configuration from the ConfigMap")
        systemctl("stop", "kubelet.service")
        write_kubelet_files(yaml.safe_load(kubelet_cm["data"]["kubelet"]), cfg.node, cfg.control_plane, join=True)
        say("[kubelet-start] Starting the kubelet")
        systemctl("restart", "kubelet.service")
        wait_kubelet(cfg.timeouts["kubeletHealthCheck"], "kubelet-start")
        say("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
        deadline = time.monotonic() + cfg.timeouts["tlsBootstrap"]
        conf = host(f"{KDIR}/kubelet.conf")
        # waitForTLSBootstrappedClient: wait.PollUntilContextTimeout(TLSBootstrapRetryInterval (1 s), immediate)
        while not (conf.exists() and _parses(conf)):
            if time.monotonic() > deadline:
                raise Fail("TLS Bootstrap timed out: timed out waiting for the condition")
            time.sleep(TLS_BOOTSTRAP_RETRY)
        host(f"{KDIR}/bootstrap-kubelet.conf").unlink(missing_ok=True)

    def check_etcd() -> None:
        if cp().local_etcd is None:
            return
        say("[check-etcd] Checking that the etcd cluster is healthy")
        etcd = etcd_client(admin(), cp().cluster["certificatesDir"], cfg.timeouts["etcdAPICall"])
        try:
            etcd.call("/v3/maintenance/status", {})
        except standin.EtcdError as exc:
            raise Fail(f"etcd cluster is not healthy: {exc}") from None

    def join_etcd() -> None:
        local = cp().local_etcd
        if local is None:
            say("[control-plane-join] Using external etcd - no local stacked instance added")
            return
        data = host(local["dataDir"])
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        etcd = etcd_client(admin(), cp().cluster["certificatesDir"], cfg.timeouts["etcdAPICall"])
        peer = f"https://{join_host_port(cfg.advertise, 2380)}"
        members = add_etcd_member(etcd, cfg.name, peer, cfg.timeouts["etcdAPICall"])
        say("[etcd] Announced new etcd member joining to the existing etcd cluster")
        say('[etcd] Creating static Pod manifest for "etcd"')
        write_manifest("etcd", etcd_manifest(cp(), members))
        promote_etcd_member(etcd, peer, cfg.timeouts["etcdAPICall"])
        say(f"[etcd] Waiting for the new etcd member to join the cluster. This can take up to "
            f"{format_duration(cfg.timeouts['etcdAPICall'])}")
        wait_etcd_member(etcd, peer, cfg.timeouts["etcdAPICall"])

    def token_client() -> standin.Kube:
        assert run.token_client is not None
        return run.token_client

    flow.run("preflight", preflight)
    if cfg.control_plane:
        for sub, action in (("download-certs", lambda: download_certs(token_client(), cp().cluster,
                                                                      cfg.certificate_key)
                             if cfg.certificate_key else None),
                            ("certs", lambda: certs_phase(cp(), join=True)),
                            ("kubeconfig", lambda: kubeconfig_phase(cp(), join=True)),
                            ("control-plane", lambda: control_plane_phase(cp()))):
            flow.run(f"control-plane-prepare/{sub}", action)
        flow.after("control-plane-prepare")
        flow.run("check-etcd", check_etcd)
    flow.run("kubelet-start", kubelet_start)
    if cfg.control_plane:
        flow.run("control-plane-join/etcd", join_etcd)
        flow.run("control-plane-join/mark-control-plane", lambda: mark_control_plane(
            admin(), cfg.name, cfg.node.get("taints"), cfg.timeouts["kubernetesAPICall"],
            "control-plane-join/mark-control-plane"))
        flow.after("control-plane-join")
        flow.run("wait-control-plane", lambda: wait_control_plane(
            cfg.advertise, cfg.port, cfg.timeouts["controlPlaneComponentHealthCheck"], "wait-control-plane"))
        say("\nThis node has joined the cluster and a new control plane instance was created:\n\n* Certificate signing "
            "request was sent to apiserver and approval was received.\n* The Kubelet was informed of the new secure "
            "connection details.\n* Control plane label and taint were applied to the new node.\n* The Kubernetes "
            "control plane instances scaled up.\n* A new etcd member was added to the local/stacked etcd cluster."
            "\n\nTo "
            "start administering your cluster from this node, you need to run the following as a regular user:\n\n"
            "\tmkdir -p $HOME/.kube\n\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n\tsudo chown $(id -u):"
            "$(id -g) $HOME/.kube/config\n\nRun 'kubectl get nodes' to see this node join the cluster.\n")
    else:
        say("\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response "
            "was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get "
            "nodes' on the control-plane to see this node join the cluster.\n")


def _parses(path: Path) -> bool:
    """A kubeconfig file that loads (clientcmd.LoadFromFile)."""
    try:
        return bool((yaml.safe_load(path.read_text()) or {}).get("clusters"))
    except (OSError, yaml.YAMLError):
        return False


# ---------------------------------------------------------------- kubeadm reset (cmd/phases/reset)

def clean_dir(path: Path) -> None:
    """CleanDir: remove a directory's contents, keep the directory."""
    if not path.is_dir():
        return
    for item in path.iterdir():
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)


def local_endpoint() -> dict[str, Any] | None:
    """This control plane's API endpoint, from its kube-apiserver manifest's annotation (getAPIEndpoint)."""
    path = host(f"{MANIFESTS}/kube-apiserver.yaml")
    if not path.exists():
        return None
    pod = yaml.safe_load(path.read_text()) or {}
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(
        "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint", "")
    if not value:
        return None
    address, _, port = value.rpartition(":")
    return {"advertiseAddress": address.strip("[]"), "bindPort": int(port)}


def remove_etcd_member(client: standin.Kube, cluster: dict[str, Any], endpoint: dict[str, Any]) -> None:
    """etcdphase.RemoveStackedEtcdMemberFromCluster: remove this node's member (not the last one)."""
    etcd = etcd_client(client, cluster["certificatesDir"], 60)  # KubernetesAPICall: 1m
    try:
        members = etcd.call("/v3/cluster/member/list", {}).get("members") or []
        client_url = f"https://{join_host_port(endpoint['advertiseAddress'], 2379)}"
        if len(members) == 1 and client_url in [u for m in members for u in m.get("clientURLs") or []]:
            return  # the only remaining member: nothing to tell
        peer = f"https://{join_host_port(endpoint['advertiseAddress'], 2380)}"
        member = next((m for m in members if peer in (m.get("peerURLs") or [])), None)
        if member is None:
            raise Fail(f"etcd member with peer URL {peer} not found")
        etcd.call("/v3/cluster/member/remove", {"ID": member["ID"]})
    except standin.EtcdError as exc:
        raise Fail(str(exc)) from None


def etcd_data_dir(cluster: dict[str, Any] | None) -> str | None:
    """getEtcdDataDir: from the cluster's config, else from the local etcd manifest's etcd-data volume."""
    if cluster is not None and cluster["etcd"].get("local") is not None:
        return str(cluster["etcd"]["local"]["dataDir"])
    klog("W", "removeetcdmember.go:105", "[reset] No kubeadm config, using etcd pod spec to get data directory")
    path = host(f"{MANIFESTS}/etcd.yaml")
    if not path.exists():
        return None
    pod = yaml.safe_load(path.read_text()) or {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("name") == "etcd-data":
            return str(volume["hostPath"]["path"])
    return None


def unmount_under(path: str) -> None:
    """unmountKubeletDirectory: unmount what is mounted below the kubelet's directory."""
    mounts = Path("/proc/mounts").read_text().splitlines() if ROOT == Path("/") else []
    for target in sorted((line.split()[1] for line in mounts if line.split()[1].startswith(path + "/")),
                         reverse=True):
        subprocess.run(["umount", target], capture_output=True)


def cmd_reset(flags: dict[str, Any], args: list[str], given: list[str], probe: Probe | None = None) -> None:
    """kubeadm reset: preflight, remove-etcd-member, cleanup-node."""
    validate_mixed(given)
    doc = load(read_config(flags["config"]), "reset").get("ResetConfiguration") if flags.get("config") else {}
    validate_reset(doc)
    probe = probe or Probe()
    force = bool(flags.get("force") or doc.get("force"))
    cert_dir = flags.get("cert-dir") or doc.get("certificatesDir") or PKI
    ignored = ignored_set(list(flags.get("ignore-preflight-errors") or [])
                          + list(doc.get("ignorePreflightErrors") or []))
    kubeconfig = Path(flags.get("kubeconfig") or host(f"{KDIR}/admin.conf"))
    client = None
    cluster = None
    if kubeconfig.exists():
        client = kube(kubeconfig)
        say('[reset] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
        say("[reset] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.")
        try:
            found = client.request("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config?timeout=10s")
            cluster = default_cluster(yaml.safe_load(found["data"]["ClusterConfiguration"]), False)
        except Fail as exc:
            klog("W", "reset.go:141", f"[reset] Unable to fetch the kubeadm-config ConfigMap from cluster: failed to "
                 f"get config map: {exc}")
    flow = Workflow(list(flags.get("skip-phases") or doc.get("skipPhases") or []))

    def preflight() -> None:
        if not force:
            klog("W", "preflight.go:55", "[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm "
                 "join' will be reverted.")
            print("[reset] Are you sure you want to proceed? [y/N]: ", end="", flush=True)
            answer = sys.stdin.readline().strip().lower()
            if answer not in ("y", "yes"):
                raise Fail("won't proceed; the user didn't answer (Y|y) in order to continue")
        say("[preflight] Running pre-flight checks")
        root_check(ignored, probe)

    def remove_member() -> None:
        data_dir = etcd_data_dir(cluster)
        if data_dir is None:
            say("[reset] No etcd config found. Assuming external etcd\n[reset] Please, manually reset etcd to prevent "
                "further issues")
            return
        if cluster is not None:
            endpoint = local_endpoint()
            try:
                if client is None or endpoint is None:
                    raise Fail("could not find the local API endpoint of this node")
                remove_etcd_member(client, cluster, endpoint)
            except Fail as exc:
                klog("W", "removeetcdmember.go:72", f"[reset] Failed to remove etcd member: {exc}, please manually "
                     "remove this etcd member using etcdctl")
                return
        clean_dir(host(data_dir))
        say(f"[reset] Deleted contents of the etcd data directory: {data_dir}")

    def cleanup() -> None:
        say("[reset] Stopping the kubelet service")
        systemctl("stop", "kubelet.service")
        say(f'[reset] Unmounting mounted directories in "{KUBELET_DIR}"')
        unmount_under(KUBELET_DIR)
        if ROOT == Path("/"):
            standin.stop_static_pods()  # removeContainers: the CRI's pod sandboxes (the kubelet's transient units)
        dirs = [MANIFESTS, KUBELET_DIR, cert_dir] + ([f"{KDIR}/tmp"] if flags.get("cleanup-tmp-dir") or
                                                     doc.get("cleanupTmpDir") else [])
        say(f"[reset] Deleting contents of directories: [{' '.join(dirs)}]")
        for path in dirs:
            clean_dir(host(path))
        files = [f"{KDIR}/{f}" for f in ("admin.conf", "super-admin.conf", "kubelet.conf", "bootstrap-kubelet.conf",
                                         "controller-manager.conf", "scheduler.conf")]
        say(f"[reset] Deleting files: [{' '.join(files)}]")
        for path in files:
            host(path).unlink(missing_ok=True)

    flow.run("preflight", preflight)
    flow.run("remove-etcd-member", remove_member)
    flow.run("cleanup-node", cleanup)
    say("\nThe reset process does not perform cleanup of CNI plugin configuration,\nnetwork filtering rules and "
        "kubeconfig files.\n\nFor information on how to perform this cleanup manually, please see:\n    "
        "https://k8s.io/docs/reference/setup-tools/kubeadm/kubeadm-reset/\n")


# ---------------------------------------------------------------- kubeadm token (cmd/token.go)

def kubeconfig_server_ca(path: Path) -> tuple[str, bytes]:
    """The current cluster's server (without https://) and CA of a kubeconfig (GetJoinWorkerCommand)."""
    try:
        conf = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise Fail(f"failed to load admin kubeconfig: open {path}: {exc.strerror}") from None
    contexts = {c["name"]: c["context"] for c in conf.get("contexts") or []}
    current = contexts.get(conf.get("current-context"), {})
    clusters = {c["name"]: c["cluster"] for c in conf.get("clusters") or []}
    cluster = clusters.get(current.get("cluster")) or next(iter(clusters.values()), {})
    ca = base64.b64decode(cluster.get("certificate-authority-data", "")) if cluster.get(
        "certificate-authority-data") else (path.parent / cluster.get("certificate-authority", "")).read_bytes()
    return str(cluster.get("server", "")).replace("https://", ""), ca


def cmd_token(action: str, flags: dict[str, Any], args: list[str], given: list[str]) -> None:
    """kubeadm token create|list|delete|generate."""
    if action == "generate":
        say(new_token())
        return
    kubeconfig = Path(flags.get("kubeconfig") or host(f"{KDIR}/admin.conf"))
    if action == "create":
        validate_mixed(given)
        if args and not TOKEN_RE.match(args[0]):
            raise Fail(f'the bootstrap token "{args[0]}" was not of the form "{TOKEN_PATTERN}"')
        if flags.get("config"):
            cfg = InitCfg(load(read_config(flags["config"]), "init"), {})
        else:  # RunCreateToken sets KubernetesVersion to kubeadm's own: no version lookup without --config
            standin.log_line("kubeadm: token create without --config: no version lookup (token.go sets "
                             "KubernetesVersion)")
            cfg = InitCfg(Config({"ClusterConfiguration": {"kubernetesVersion": kubeadm_version()}},
                                 {"ClusterConfiguration": "v1beta4"}), {}, detect=False)
            cfg.tokens = default_tokens([{"token": args[0] if args else "", "ttl": flags.get("ttl") or "24h0m0s",
                                          "usages": flags.get("usages"), "groups": flags.get("groups"),
                                          "description": flags.get("description") or ""}], {})
        cfg.validate()
        client = kube(kubeconfig)
        create_tokens(client, cfg.tokens, False)
        token = cfg.tokens[0]["token"]
        if flags.get("print-join-command"):
            server, ca = kubeconfig_server_ca(kubeconfig)
            say(join_command(server, token, ca, flags.get("certificate-key"), one_line=True))
        else:
            say(token)
        return
    client = kube(kubeconfig)
    if action == "list":
        secrets_list = client.request("GET", "/api/v1/namespaces/kube-system/secrets?fieldSelector=type%3D"
                                             "bootstrap.kubernetes.io%2Ftoken")["items"]
        say("TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION"
            "                                                EXTRA GROUPS")
        for secret in secrets_list:
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            usages = ",".join(k.removeprefix("usage-bootstrap-") for k in sorted(data) if k.startswith("usage-"))
            expires = data.get("expiration", "<forever>")
            ttl = "<forever>" if "expiration" not in data else format_duration(
                max(0.0, standin.parse_rfc3339(expires) - time.time())).split("m")[0].replace("h", "h")
            say(f"{data.get('token-id', '')}.{data.get('token-secret', ''):<18} {ttl:<11} {expires:<22} "
                f"{usages:<24} {data.get('description', '<none>'):<50} {data.get('auth-extra-groups', '')}")
        return
    if action == "delete":
        if not args:
            raise Fail("missing argument; 'token delete' is missing token of form \"[a-z0-9]{6}.[a-z0-9]{16}\" or "
                       "\"[a-z0-9]{6}\"")
        for token in args:
            tid = token.split(".")[0]
            try:
                client.request("DELETE", f"/api/v1/namespaces/kube-system/secrets/bootstrap-token-{tid}")
            except ApiError as exc:
                raise Fail(f'failed to delete bootstrap token "{tid}": {exc}') from None
            say(f'bootstrap token "{tid}" deleted')
        return
    raise Fail(f'unknown command "{action}" for "kubeadm token"')


# ---------------------------------------------------------------- version, certs, config

def cmd_version(flags: dict[str, Any]) -> None:
    """kubeadm version [-o short|json|yaml]."""
    version = kubeadm_version()
    major, minor = version.lstrip("v").split(".")[:2]
    info = {"major": major, "minor": minor, "gitVersion": version, "gitCommit": "standin", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25 (TEST DOUBLE: python stand-in)",
            "compiler": "gc", "platform": "linux/amd64"}
    output = flags.get("output") or ""
    if output == "short":
        say(version)
    elif output == "json":
        say(json.dumps({"clientVersion": info}, indent=2))
    elif output == "yaml":
        say(yaml.safe_dump({"clientVersion": info}, sort_keys=False).rstrip())
    elif output:
        raise Fail(f"invalid output format: {output}")
    else:
        say("kubeadm version: &version.Info{" + ", ".join(
            f'{k[0].upper() + k[1:]}:"{v}"' for k, v in info.items()) + "}")


def cert_end(pem: bytes) -> float:
    """NotAfter of a PEM certificate, seconds since the epoch."""
    text = _openssl("x509", "-noout", "-enddate", data=pem).decode().strip().split("=", 1)[1]
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc).timestamp()


def residual(end: float) -> str:
    """The RESIDUAL TIME column (duration.ShortHumanDuration)."""
    seconds = end - time.time()
    if seconds < 0:
        return "<invalid>"
    days = int(seconds // 86400)
    if days > 365 * 2:
        return f"{days // 365}y"
    if days > 0:
        return f"{days}d"
    return f"{int(seconds // 3600)}h"


def cmd_check_expiration(flags: dict[str, Any]) -> None:
    """kubeadm certs check-expiration (phases/certs/renewal readers)."""
    cert_dir = flags.get("cert-dir") or PKI
    rows = [("admin.conf", f"{KDIR}/admin.conf", "ca"), ("apiserver", f"{cert_dir}/apiserver.crt", "ca"),
            ("apiserver-etcd-client", f"{cert_dir}/apiserver-etcd-client.crt", "etcd-ca"),
            ("apiserver-kubelet-client", f"{cert_dir}/apiserver-kubelet-client.crt", "ca"),
            ("controller-manager.conf", f"{KDIR}/controller-manager.conf", "ca"),
            ("etcd-healthcheck-client", f"{cert_dir}/etcd/healthcheck-client.crt", "etcd-ca"),
            ("etcd-peer", f"{cert_dir}/etcd/peer.crt", "etcd-ca"),
            ("etcd-server", f"{cert_dir}/etcd/server.crt", "etcd-ca"),
            ("front-proxy-client", f"{cert_dir}/front-proxy-client.crt", "front-proxy-ca"),
            ("scheduler.conf", f"{KDIR}/scheduler.conf", "ca"), ("super-admin.conf", f"{KDIR}/super-admin.conf", "ca")]
    say('[check-expiration] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    say("[check-expiration] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.")
    say("\nCERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   "
        "EXTERNALLY MANAGED")
    for name, path, ca in rows:
        pem = _cert_pem(path)
        if pem is None:
            say(f"!MISSING! {name}")
            continue
        end = cert_end(pem)
        say(f"{name:<26} {time.strftime('%b %d, %Y %H:%M UTC', time.gmtime(end)):<24} {residual(end):<15} "
            f"{ca:<23} no")
    say("\nCERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED")
    for name, path in (("ca", f"{cert_dir}/ca.crt"), ("etcd-ca", f"{cert_dir}/etcd/ca.crt"),
                       ("front-proxy-ca", f"{cert_dir}/front-proxy-ca.crt")):
        pem = _cert_pem(path)
        if pem is None:
            say(f"!MISSING! {name}")
            continue
        end = cert_end(pem)
        say(f"{name:<23} {time.strftime('%b %d, %Y %H:%M UTC', time.gmtime(end)):<24} {residual(end):<15} no")


# cmd/kubeadm/app/cmd/certs.go (renew) and phases/certs/renewal: (name, long name, file, CA base), in the order
# `kubeadm certs renew all` prints them (GetDefaultCertList + the kubeconfig files, super-admin.conf last).
RENEWABLE = (
    ("admin.conf", "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
     f"{KDIR}/admin.conf", "ca"),
    ("apiserver", "certificate for serving the Kubernetes API", "apiserver.crt", "ca"),
    ("apiserver-etcd-client", "certificate the apiserver uses to access etcd", "apiserver-etcd-client.crt", "etcd/ca"),
    ("apiserver-kubelet-client", "certificate for the API server to connect to kubelet",
     "apiserver-kubelet-client.crt", "ca"),
    ("controller-manager.conf", "certificate embedded in the kubeconfig file for the controller manager to use",
     f"{KDIR}/controller-manager.conf", "ca"),
    ("etcd-healthcheck-client", "certificate for liveness probes to healthcheck etcd",
     "etcd/healthcheck-client.crt", "etcd/ca"),
    ("etcd-peer", "certificate for etcd nodes to communicate with each other", "etcd/peer.crt", "etcd/ca"),
    ("etcd-server", "certificate for serving etcd", "etcd/server.crt", "etcd/ca"),
    ("front-proxy-client", "certificate for the front proxy client", "front-proxy-client.crt", "front-proxy-ca"),
    ("scheduler.conf", "certificate embedded in the kubeconfig file for the scheduler manager to use",
     f"{KDIR}/scheduler.conf", "ca"),
    ("super-admin.conf", "certificate embedded in the kubeconfig file for the super-admin",
     f"{KDIR}/super-admin.conf", "ca"),
)


def cert_template(pem: bytes) -> tuple[str, str, list[str], list[str]]:
    """renewal.certToConfig: the subject (-subj form), extended key usages, DNS and IP SANs of a certificate."""
    text = _openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", "-ext",
                    "subjectAltName,extendedKeyUsage", data=pem).decode()
    first, _, rest = text.partition("\n")
    parts = [p.strip() for p in first.split("=", 1)[1].split(",") if p.strip()] if "=" in first else []
    subj = "".join("/" + p for p in reversed(parts))
    usages = []
    if "TLS Web Server Authentication" in rest:
        usages.append("serverAuth")
    if "TLS Web Client Authentication" in rest:
        usages.append("clientAuth")
    dns = re.findall(r"DNS:([^,\s]+)", rest)
    ips = re.findall(r"IP Address:([^,\s]+)", rest)
    return subj, ",".join(usages) or "clientAuth", dns, ips


def cluster_for_renewal(flags: dict[str, Any]) -> dict[str, Any]:
    """The ClusterConfiguration renewal reads: --config, else the kubeadm-config ConfigMap, else the defaults."""
    if flags.get("config"):
        return default_cluster(load(read_config(flags["config"]), "init").get("ClusterConfiguration"), False)
    say('[renew] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    say("[renew] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.")
    try:
        client = kube(Path(flags.get("kubeconfig") or host(f"{KDIR}/admin.conf")))
        found = client.request("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config?timeout=10s")
        return default_cluster(yaml.safe_load(found["data"]["ClusterConfiguration"]), False)
    except (Fail, OSError, KeyError, TypeError) as exc:
        klog("W", "certs.go:339", f"[renew] Error reading configuration from the Cluster. Falling back to default "
             f"configuration: {exc}")
        return default_cluster({}, False)


def cmd_renew_all(flags: dict[str, Any], args: list[str]) -> None:
    """kubeadm certs renew all: every certificate re-issued by its local CA with its own subject, SANs and usages,
    a new key, and the cluster's certificateValidityPeriod (renewal.Manager.RenewUsingLocalCA, FileRenewer).
    A missing certificate is reported `MISSING! <long name>` and skipped; a CA without its key (external CA)
    refuses the renewal."""
    if args:
        raise Fail(f'unknown command "{args[0]}" for "kubeadm certs renew all"')
    cluster = cluster_for_renewal(flags)
    cert_dir = flags.get("cert-dir") or cluster.get("certificatesDir") or PKI
    say("")
    for name, long_name, file, ca in RENEWABLE:
        path = file if file.startswith("/") else f"{cert_dir}/{file}"
        pem = _cert_pem(path)
        if pem is None:
            say(f"MISSING! {long_name}")
            continue
        ca_base = host(f"{cert_dir}/{ca}")
        if not ca_base.with_suffix(".key").exists():
            raise Fail(f"failed to renew certificate {name}: certificate authority {ca} is not present: "
                       f"open {cert_dir}/{ca}.key: no such file or directory")
        subj, usages, dns, ips = cert_template(pem)
        if path.endswith(".conf"):
            conf = yaml.safe_load(host(path).read_text()) or {}
            with tempfile.TemporaryDirectory() as tmp:
                cert = sign_cert(Path(tmp, "client"), ca_base, subj, usages, cluster, dns, ips)
                key = Path(tmp, "client.key").read_bytes()
            user = conf["users"][0]["user"]
            user["client-certificate-data"] = base64.b64encode(cert).decode()
            user["client-key-data"] = base64.b64encode(key).decode()
            user.pop("client-certificate", None)
            user.pop("client-key", None)
            standin.write_private(host(path), yaml.safe_dump(conf, sort_keys=False))
        else:
            sign_cert(host(path).with_suffix(""), ca_base, subj, usages, cluster, dns, ips)
            host(path).with_suffix(".key").chmod(0o600)
        say(f"{long_name} renewed")
    say("\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler "
        "and etcd, so that they can use the new certificates.")


def _cert_pem(path: str) -> bytes | None:
    """A certificate file's PEM, or the client certificate embedded in a kubeconfig."""
    file = host(path)
    if not file.exists():
        return None
    if path.endswith(".conf"):
        conf = yaml.safe_load(file.read_text()) or {}
        user = ((conf.get("users") or [{}])[0].get("user") or {})
        if user.get("client-certificate-data"):
            return base64.b64decode(user["client-certificate-data"])
        return host(user["client-certificate"]).read_bytes() if user.get("client-certificate") else None
    return file.read_bytes()


def cmd_images(action: str, flags: dict[str, Any]) -> None:
    """kubeadm config images list|pull: the images of this kubeadm (pull: the lab has nothing to pull)."""
    if flags.get("config"):
        cfg = InitCfg(load(read_config(flags["config"]), "init"), flags, detect=False)
    else:
        cfg = InitCfg(Config({}, {}), flags, detect=False)
    repo = cfg.cluster["imageRepository"]
    dns_repo = cfg.cluster["dns"].get("imageRepository") or f"{repo}/coredns"
    images = [image(cfg, c) for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")]
    images.append(f"{dns_repo}/coredns:{cfg.cluster['dns'].get('imageTag') or IMAGES[kube_minor()]['coredns']}")
    images.append(f"{repo}/pause:{IMAGES[kube_minor()]['pause']}")
    if cfg.local_etcd is not None:
        images.append(image(cfg, "etcd"))
    for item in images:
        say(f"[config/images] Pulled {item}" if action == "pull" else item)


def cmd_validate(flags: dict[str, Any]) -> None:
    """kubeadm config validate --config F: strict decoding and validation; prints ok."""
    if not flags.get("config"):
        raise Fail("the --config flag is mandatory")
    try:
        decode(read_config(flags["config"]))
    except ValueError as exc:
        raise Fail(str(exc)) from None
    say("ok")


# ---------------------------------------------------------------- main

# ---------------------------------------------------------------- kubeadm upgrade plan / apply / node
# cmd/kubeadm/app/cmd/upgrade/{plan,apply,node}.go and phases/upgrade/policy.go (kubernetes/kubernetes, the
# policy as of commit 04791b4); see lab/standins/README.md ("kubeadm upgrade").

UPGRADE_SKEW = 1  # policy.go MaximumAllowedMinorVersionUpgradeSkew (and ...DowngradeSkew, ...KubeletSkew)
UPGRADE_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")  # staticpods.go order
PODS_STATE = "/run/k8s-standin-pods"  # where the kubelet stand-in records the manifest hash each pod runs


def semver(value: str) -> tuple[int, int, int]:
    """'v1.37.1' -> (1, 37, 1); version.ParseSemantic's error otherwise."""
    found = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", value.strip())
    if not found:
        raise Fail(f'could not parse "{value}" as version')
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def version_policy(cluster: str, kubeadm: str, new: str, kubelets: Iterable[str]) -> tuple[list[str], list[str]]:
    """EnforceVersionPolicies: (mandatory, skippable) errors for released versions (policy.go)."""
    mandatory: list[str] = []
    skippable: list[str] = []
    c, k, n = semver(cluster), semver(kubeadm), semver(new)
    minimum = (1, k[1] - 1, 0)  # constants.MinimumControlPlaneVersion: one minor below kubeadm's
    if n < minimum:
        mandatory.append(f'Specified version to upgrade to "{new}" is equal to or lower than the minimum supported '
                         f'version "{cluster}". Please specify a higher version to upgrade to')
    if n[1] > c[1] + UPGRADE_SKEW:
        mandatory.append(f'Specified version to upgrade to "{new}" is too high; kubeadm can upgrade only '
                         f"{UPGRADE_SKEW} minor version at a time")
    if n[1] < c[1] - UPGRADE_SKEW:
        mandatory.append(f'Specified version to downgrade to "{new}" is too low; kubeadm can downgrade only '
                         f"{UPGRADE_SKEW} minor version at a time")
    if k < n:
        if n[1] > k[1]:
            mandatory.append(f'Specified version to upgrade to "{new}" is at least one minor release higher than the '
                             f"kubeadm minor release ({n[1]} > {k[1]}). Such an upgrade is not supported")
        else:
            skippable.append(f'Specified version to upgrade to "{new}" is higher than the kubeadm version "{kubeadm}". '
                             "Upgrade kubeadm first using the tool you used to install kubeadm")
    if k[0] > n[0] or k[1] > n[1]:
        skippable.append(f"Kubeadm version {kubeadm} can only be used to upgrade to Kubernetes version {k[0]}.{k[1]}")
    old = sorted({v for v in kubelets if n[1] > semver(v)[1] + UPGRADE_SKEW})
    if old:
        skippable.append(f"There are kubelets in this cluster that are too old that have these versions [{' '.join(old)}]")
    return mandatory, skippable


def upgrade_client(flags: dict[str, Any]) -> standin.Kube:
    """--kubeconfig, else admin.conf (apply, plan, a control plane's node) or kubelet.conf (a worker's node)."""
    explicit = flags.get("kubeconfig")
    path = host(explicit) if explicit else host(f"{KDIR}/admin.conf")
    if not explicit and not path.exists():
        path = host(f"{KDIR}/kubelet.conf")
    if not path.exists():
        raise Fail(f'failed to load admin kubeconfig: open {path}: no such file or directory')
    return kube(path)


def fetch_cluster_configuration(client: standin.Kube) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the kubeadm-config ConfigMap, its ClusterConfiguration) — FetchInitConfigurationFromCluster."""
    say('[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    say("[upgrade] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.")
    try:
        cm = client.request("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    except ApiError as exc:
        raise Fail(f"unable to fetch the kubeadm-config ConfigMap: {exc}") from None
    cluster = yaml.safe_load((cm.get("data") or {}).get("ClusterConfiguration") or "") or {}
    if not cluster.get("kubernetesVersion"):
        raise Fail("unable to fetch cluster version: the ClusterConfiguration has no kubernetesVersion")
    return cm, cluster


def cluster_version(client: standin.Kube) -> str:
    """KubeVersionGetter.ClusterVersion: the API server's /version through the kubeconfig's server (the load
    balancer for admin.conf), not kubeadm-config; a failed fetch is a fatal policy error (versiongetter.go,
    policy.go EnforceVersionPolicies)."""
    try:
        return str(client.request("GET", "/version")["gitVersion"])
    except (Fail, KeyError, TypeError) as exc:
        raise Fail("the version argument is invalid due to these fatal errors:\n\n\t- Unable to fetch cluster "
                   f"version: Couldn't fetch cluster version from the API Server: {exc}\n\n"
                   "Please fix the misalignments highlighted above and try upgrading again") from None


def kubelet_versions(client: standin.Kube) -> list[str]:
    """KubeletVersions: every Node's status.nodeInfo.kubeletVersion."""
    nodes = client.request("GET", "/api/v1/nodes").get("items") or []
    return [((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "") for n in nodes]


def enforce_policy(cluster_version: str, new: str, kubelets: list[str], force: bool) -> None:
    """Print the versions, then fail on mandatory errors, and on skippable ones without --force (apply.go)."""
    say(f"[upgrade/versions] Cluster version: {cluster_version}")
    say(f"[upgrade/versions] kubeadm version: {kubeadm_version()}")
    mandatory, skippable = version_policy(cluster_version, kubeadm_version(), new, kubelets)
    if mandatory:
        raise Fail("the version argument is invalid due to these fatal errors:\n\n"
                   + "\n".join(f"\t- {e}" for e in mandatory + skippable)
                   + "\n\nPlease fix the misalignments highlighted above and try upgrading again")
    if skippable and not force:
        raise Fail("the version argument is invalid due to these errors:\n\n"
                   + "\n".join(f"\t- {e}" for e in skippable) + "\n\nCan be bypassed if you pass the --force flag")
    for error in skippable:
        say(f"[upgrade/version] Found {len(skippable)} potential version compatibility errors but skipping since "
            f"the --force flag is set: \n\n\t- {error}")


def wait_static_pod(name: str, text: str, timeout: float) -> None:
    """WaitForStaticPodHash: until the kubelet runs the new manifest (the stand-in kubelet's hash record)."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    state = Path(PODS_STATE) / f"{name}.hash"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.exists() and state.read_text().strip() == digest:
            return
        time.sleep(0.5)
    raise Fail(f'static Pod hash for component {name} on Node did not change after {format_duration(timeout)}: '
               "timed out waiting for the condition")


def upgrade_static_pods(version: str, etcd_tag: str | None, timeout: float, dry_run: bool) -> list[str]:
    """StaticPodControlPlane: each control-plane manifest's image at the new tag, in order, waiting for the
    kubelet to run it before the next; the old manifest backed up. Returns the components changed."""
    changed = []
    backup = host(f"{KDIR}/tmp/kubeadm-backup-manifests-{time.strftime('%Y-%m-%d-%H-%M-%S')}")
    for name in UPGRADE_COMPONENTS:
        path = host(f"{MANIFESTS}/{name}.yaml")
        if not path.exists():
            continue
        tag = etcd_tag if name == "etcd" else version
        if tag is None:
            continue
        text = path.read_text()
        pod = yaml.safe_load(text)
        container = pod["spec"]["containers"][0]
        repo = container["image"].rsplit(":", 1)[0]
        if container["image"] == f"{repo}:{tag}":
            say(f'[upgrade/staticpods] Current and new manifests of {name} are equal, skipping upgrade')
            continue
        say(f'[upgrade/staticpods] Preparing for "{name}" upgrade')
        if dry_run:
            say(f'[dryrun] Would write the {name} manifest with image "{repo}:{tag}"')
            continue
        container["image"] = f"{repo}:{tag}"
        new = yaml.safe_dump(pod, sort_keys=False)
        backup.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, backup / path.name)
        say(f'[upgrade/staticpods] Moved new manifest to "{MANIFESTS}/{name}.yaml" and backed up old manifest to '
            f'"{backup.relative_to(ROOT) if backup.is_relative_to(ROOT) else backup}/{name}.yaml"')
        standin.write_private(path, new)
        say("[upgrade/staticpods] Waiting for the kubelet to restart the component")
        say(f"[upgrade/staticpods] This can take up to {format_duration(timeout)}")
        wait_static_pod(name, new, timeout)
        say(f'[upgrade/staticpods] Component "{name}" upgraded successfully!')
        changed.append(name)
    return changed


def write_kubelet_config(client: standin.Kube, dry_run: bool) -> None:
    """kubelet-config phase: /var/lib/kubelet/config.yaml from the kubelet-config ConfigMap (the node's
    containerRuntimeEndpoint kept), kubelet restarted by the user afterwards (phases/upgrade/postupgrade.go)."""
    cm = client.get("/api/v1/namespaces/kube-system/configmaps/kubelet-config")
    if cm is None:
        raise Fail('unable to fetch the kubelet-config ConfigMap: configmaps "kubelet-config" not found')
    config = yaml.safe_load(cm["data"]["kubelet"]) or {}
    path = host(f"{KUBELET_DIR}/config.yaml")
    current = yaml.safe_load(path.read_text()) if path.exists() else {}
    if current.get("containerRuntimeEndpoint"):
        config["containerRuntimeEndpoint"] = current["containerRuntimeEndpoint"]
    if dry_run:
        say(f'[dryrun] Would write file "{KUBELET_DIR}/config.yaml"')
        return
    say(f'[upgrade] Backing up kubelet config file to {KDIR}/tmp/kubeadm-kubelet-config.yaml')
    if path.exists():
        host(f"{KDIR}/tmp").mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, host(f"{KDIR}/tmp/kubeadm-kubelet-config.yaml"))
    say(f'[kubelet-start] Writing kubelet configuration to file "{KUBELET_DIR}/config.yaml"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=True))


def update_addon_images(client: standin.Kube, cluster: dict[str, Any], version: str, minor: int) -> None:
    """addon phase: the CoreDNS Deployment and kube-proxy DaemonSet at the new images (when they exist)."""
    repo = cluster.get("imageRepository") or "registry.k8s.io"
    dns = cluster.get("dns") or {}
    targets = [("/apis/apps/v1/namespaces/kube-system/deployments/coredns", "CoreDNS",
                f"{dns.get('imageRepository') or repo + '/coredns'}/coredns:{dns.get('imageTag') or IMAGES[minor]['coredns']}"),
               ("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy", "kube-proxy", f"{repo}/kube-proxy:{version}")]
    for path, name, img in targets:
        obj = client.get(path)
        if obj is None:
            continue
        for container in obj["spec"]["template"]["spec"].get("containers") or []:
            container["image"] = img
        client.request("PUT", path, obj)
        say(f"[addons] Applied essential addon: {name}")


API_RETRY = 60.0  # v1beta4 timeouts.kubernetesAPICall default (1m): API calls retried while the API server restarts


def api_retry(action: Callable[[], Any], what: str) -> Any:
    """An upgrade's API calls, retried like apiclient's (the local API server may be restarting)."""
    return retry(action, API_RETRY, what, interval=1.0)


def cmd_upgrade_plan(flags: dict[str, Any], args: list[str]) -> None:
    """upgrade plan [version]: the versions available to upgrade to, and the policy's errors (plan.go)."""
    client = upgrade_client(flags)
    _, cluster = fetch_cluster_configuration(client)
    say("[upgrade/preflight] Running preflight checks")
    say("[upgrade] Running cluster health checks")
    current = cluster_version(client)
    target = args[0] if args else kubeadm_version()
    kubelets = kubelet_versions(client)
    say(f"[upgrade] Fetching available versions to upgrade to")
    enforce_policy(current, target, kubelets, bool(flags.get("allow-experimental-upgrades")))
    say(f"[upgrade/versions] Target version: {target}")
    if semver(target) <= semver(current):
        say("\nAwesome, you're up-to-date! Enjoy!")
        return
    say("\nComponents that must be upgraded manually after you have upgraded the control plane with "
        "'kubeadm upgrade apply':\nCOMPONENT   NODE      CURRENT   TARGET")
    for version in sorted(set(kubelets)):
        say(f"kubelet     {kubelets.count(version)} x     {version}   {target}")
    say("\nUpgrade to the latest stable version:\n\nCOMPONENT                 NODE      CURRENT    TARGET")
    for name in UPGRADE_COMPONENTS[1:]:
        say(f"{name:<25} -         {current}    {target}")
    say(f"\nYou can now apply the upgrade by executing the following command:\n\n\tkubeadm upgrade apply {target}\n")


def confirm_upgrade(flags: dict[str, Any]) -> None:
    """Without --yes/-y apply asks on stdin (apply.go, util.InteractivelyConfirmAction)."""
    if flags.get("yes") or flags.get("dry-run"):
        return
    print("[upgrade] Are you sure you want to proceed? [y/N]: ", end="", flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise Fail("won't proceed; the user didn't answer (Y|y) in order to continue")


def cmd_upgrade_apply(flags: dict[str, Any], args: list[str], given: list[str]) -> None:
    """upgrade apply VERSION: the policy, then control plane, upload-config, kubelet-config and addons (apply.go)."""
    validate_mixed(given)
    if not args and "config" not in given:
        raise Fail("missing one or more required arguments. Required arguments: [version]")
    if len(args) > 1:
        raise Fail(f"expected at most one argument, got {len(args)}")
    new = args[0] if args else ""
    client = upgrade_client(flags)
    _, cluster = fetch_cluster_configuration(client)
    semver(new)
    new = "v" + new.lstrip("v")
    say("[upgrade/preflight] Running preflight checks")
    say("[upgrade] Running cluster health checks")
    say(f'[upgrade/version] You have chosen to upgrade to version "{new}"')
    enforce_policy(cluster_version(client), new, kubelet_versions(client), bool(flags.get("force")))
    confirm_upgrade(flags)
    workflow = Workflow(flags.get("skip-phases") or [])
    dry = bool(flags.get("dry-run"))
    minor = semver(new)[1]
    etcd_tag = IMAGES.get(minor, {}).get("etcd") if flags.get("etcd-upgrade", True) else None
    timeout = go_duration(((cluster.get("timeouts") or {}).get("upgradeManifests")) or "5m0s")
    say(f'[upgrade/control-plane] Upgrading your static Pod-hosted control plane to version "{new}" '
        f"(timeout: {format_duration(timeout)})...")
    workflow.run("control-plane", lambda: upgrade_static_pods(new, etcd_tag, timeout, dry))

    def upload() -> None:
        if dry:
            return
        say('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" '
            "Namespace")
        updated = {**cluster, "kubernetesVersion": new}

        def put() -> None:  # apiclient.CreateOrUpdateConfigMap: the latest resourceVersion, retried
            current = client.request("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
            current.setdefault("data", {})["ClusterConfiguration"] = yaml.safe_dump(updated, sort_keys=True)
            client.request("PUT", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", current)
        api_retry(put, "unable to update the kubeadm-config ConfigMap")
    workflow.run("upload-config", upload)
    workflow.run("kubelet-config", lambda: api_retry(lambda: write_kubelet_config(client, dry),
                                                     "unable to write the kubelet configuration"))
    workflow.run("addon", lambda: None if dry else api_retry(lambda: update_addon_images(client, cluster, new, minor),
                                                             "unable to update the addons"))
    say(f'\n[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "{new}".\n')
    say("[upgrade] Now please proceed with upgrading the rest of the nodes by following the right order.")


def cmd_upgrade_node(flags: dict[str, Any], args: list[str], given: list[str]) -> None:
    """upgrade node: a control plane's static pods at the cluster's version, then the kubelet config (node.go)."""
    validate_mixed(given)
    if args:
        raise Fail(f'unknown command "{args[0]}" for "kubeadm upgrade node"')
    client = upgrade_client(flags)
    _, cluster = fetch_cluster_configuration(client)
    version = cluster["kubernetesVersion"]
    say("[upgrade/preflight] Running pre-flight checks")
    control_plane = host(f"{MANIFESTS}/kube-apiserver.yaml").exists()
    if not control_plane:
        say("[upgrade/preflight] Skipping prepull. Not a control plane node.")
    k, c = semver(kubeadm_version()), semver(version)
    if c[:2] > k[:2]:  # the policy's kubeadm rule applied to the cluster's version
        raise Fail(f'Specified version to upgrade to "{version}" is at least one minor release higher than the '
                   f"kubeadm minor release ({c[1]} > {k[1]}). Such an upgrade is not supported")
    workflow = Workflow(flags.get("skip-phases") or [])
    dry = bool(flags.get("dry-run"))
    if control_plane:
        etcd_tag = IMAGES.get(c[1], {}).get("etcd") if flags.get("etcd-upgrade", True) else None
        timeout = go_duration(((cluster.get("timeouts") or {}).get("upgradeManifests")) or "5m0s")
        say(f'[upgrade/control-plane] Upgrading your Static Pod-hosted control plane instance to version "{version}"...')
        workflow.run("control-plane", lambda: upgrade_static_pods(version, etcd_tag, timeout, dry))
    else:
        say("[upgrade/control-plane] Skipping phase. Not a control plane node.")
    workflow.run("kubelet-config", lambda: api_retry(lambda: write_kubelet_config(client, dry),
                                                     "unable to write the kubelet configuration"))
    say("[upgrade] The configuration for this node was successfully upgraded!")
    say("[upgrade] Now you should go ahead and upgrade the kubelet package using your package manager.")


def dispatch(argv: list[str]) -> None:
    """Find the (sub)command of argv and run it."""
    words = []
    for item in argv:
        if item.startswith("-"):
            break
        words.append(item)
    command = next((c for c in sorted(FLAGS, key=len, reverse=True) if tuple(words[:len(c)]) == c), None)
    if command is None:
        raise Fail(f'unknown command "{" ".join(words) or "kubeadm"}" for "kubeadm"')
    flags, args, given = parse(command, argv[len(command):])
    if command == ("init",):
        cmd_init(flags, args, given)
    elif command == ("init", "phase", "upload-certs"):
        cmd_upload_certs(flags, args, given)
    elif command == ("join",):
        cmd_join(flags, args, given)
    elif command == ("reset",):
        cmd_reset(flags, args, given)
    elif command[0] == "token":
        cmd_token(command[1], flags, args, given)
    elif command == ("version",):
        cmd_version(flags)
    elif command == ("certs", "check-expiration"):
        cmd_check_expiration(flags)
    elif command == ("certs", "certificate-key"):
        say(secrets.token_hex(32))
    elif command == ("certs", "renew", "all"):
        cmd_renew_all(flags, args)
    elif command[:2] == ("config", "images"):
        cmd_images(command[2], flags)
    elif command == ("config", "validate"):
        cmd_validate(flags)
    elif command == ("upgrade", "plan"):
        cmd_upgrade_plan(flags, args)
    elif command == ("upgrade", "apply"):
        cmd_upgrade_apply(flags, args, given)
    elif command == ("upgrade", "node"):
        cmd_upgrade_node(flags, args, given)


def main(argv: list[str]) -> int:
    """Run kubeadm; errors print as kubeadm's (`error: ...` and the stack-trace hint), exit 1."""
    standin.log_call("kubeadm")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    code = 0
    try:
        dispatch(argv)
    except Fail as exc:
        print(f"error: {exc}\nTo see the stack trace of this error execute with --v=5 or higher", file=sys.stderr)
        standin.log_line(f"kubeadm failed: {exc}")
        code = 1
    standin.log_line(f"kubeadm exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
