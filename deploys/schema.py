"""The type and grammar of every data key, declared beside its default (`Key`).

Each component module declares `KEYS = {name: Key(default, TYPE)}`; the model checks every
value against its type before anything else, so no value reaches a shell command, a template
or a local path unchecked. Grammars are whole-string matches (`re.fullmatch`, ASCII only):
`$` would accept a trailing newline and `\\d` any Unicode digit.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from deploys import rules

CLUSTER = "cluster"
HOST = "host"


@dataclass(frozen=True)
class Type:
    """A data type: its name (the README's type column), what it expects in words, and its check."""

    name: str
    expected: str
    valid: Callable[[Any], bool]
    hint: Callable[[Any], str | None] = lambda value: None  # a message in the user's words, when one fits

    def problem(self, value: Any) -> str | None:
        """None if VALUE is of this type, else what is wrong with it."""
        if self.valid(value):
            return None
        return self.hint(value) or f"expected {self.expected}"


@dataclass(frozen=True)
class Key:
    """One data key: its default, its type and where it may be set (cluster-wide or per host)."""

    default: Any
    type: Type
    scope: str = CLUSTER


def defaults(keys: Mapping[str, Key]) -> dict[str, Any]:
    """KEYS as plain key -> default (what pyinfra's data_defaults and the model's callers take)."""
    return {name: key.default for name, key in keys.items()}


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_hint(expected_python: str) -> Callable[[Any], str | None]:
    """A hint for a value of the wrong Python type: says which type was given."""

    def hint(value: Any) -> str | None:
        if value is None:
            return f"None is not allowed here; expected {expected_python}"
        return None

    return hint


def pattern(name: str, expected: str, regex: str, max_length: int = 253) -> Type:
    """A string matching REGEX as a whole (ASCII), at most MAX_LENGTH characters."""
    compiled = re.compile(regex, re.ASCII)
    return Type(
        name, expected,
        lambda v: _string(v) and len(v) <= max_length and compiled.fullmatch(v) is not None,
        _type_hint(expected),
    )


def optional(inner: Type, none_means: str) -> Type:
    """INNER or None; NONE_MEANS says what None stands for (README)."""
    return Type(
        f"{inner.name} or None", f"{inner.expected}, or None ({none_means})",
        lambda v: v is None or inner.valid(v), inner.hint,
    )


def integer(low: int, high: int, name: str = "integer") -> Type:
    """An int in LOW..HIGH (a bool is not an int here)."""
    return Type(f"{name} {low}-{high}", f"an integer {low}-{high}", lambda v: _integer(v) and low <= v <= high)


def enum(values: tuple[str, ...], hint: Callable[[Any], str | None] = lambda v: None) -> Type:
    """One of VALUES (strings)."""
    listed = ", ".join(repr(v) for v in values)
    named = ", ".join(f'"{v}"' for v in values)
    return Type(f"one of {named}", f"one of {listed}", lambda v: _string(v) and v in values, hint)


def _ipv4(value: Any) -> bool:
    return _string(value) and rules.is_ipv4(value)


def _cidr(value: Any) -> bool:
    if not _string(value) or not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}", value, re.ASCII):
        return False
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return True


def _cidr_hint(value: Any) -> str | None:
    if _string(value) and re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}", value, re.ASCII):
        try:
            network = ipaddress.IPv4Network(value, strict=False)
        except ValueError as exc:
            return f"expected an IPv4 network in CIDR form ({exc})"
        return f"host bits are set; the network is {network}"
    return None


# Kubernetes names: DNS-1123 label / subdomain (k8s.io/apimachinery pkg/util/validation IsDNS1123Subdomain).
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
_HOSTNAME = r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*"
_VERSION = r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}"


def is_dns_subdomain(value: Any) -> bool:
    """A DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters."""
    return _string(value) and len(value) <= 253 and re.fullmatch(_SUBDOMAIN, value, re.ASCII) is not None


def _upper_case_hint(value: Any) -> str | None:
    if _string(value) and value != value.lower() and is_dns_subdomain(value.lower()):
        return f"upper-case letters are not allowed (Kubernetes names are lower-case): write {value.lower()!r}"
    return None


def _san(value: Any) -> bool:
    """kubeadm ValidateCertSANs: a DNS-1123 subdomain (optionally '*.'-prefixed) or an IP address."""
    if not _string(value):
        return False
    return _ipv4(value) or is_dns_subdomain(value.removeprefix("*."))


def _list_of_sans(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) <= 100 and all(_san(item) for item in value)


def _host_port(value: Any) -> bool:
    if not _string(value) or len(value) > 260:
        return False
    match = re.fullmatch(rf"(?P<host>{_HOSTNAME}):(?P<port>[0-9]{{1,5}})", value, re.ASCII)
    return bool(match) and 0 < int(match.group("port")) < 65536


# URLs: http(s), a host name, IPv4 or [IPv6] address, an optional port, and a path/query of
# unreserved characters and a few sub-delimiters (RFC 3986). No quotes, no spaces, no '$', ';',
# '(', ')', '!', '*', '#', backslash: such a URL is refused rather than trusted to quoting.
_URL_CHARS = r"[A-Za-z0-9._~%/:@+,=&-]"
_URL = re.compile(
    rf"https?://({_HOSTNAME}|\[[0-9A-Fa-f:.]+\])(:[0-9]{{1,5}})?(/{_URL_CHARS}*)?(\?{_URL_CHARS}*)?", re.ASCII
)


def url(*placeholders: str, file: bool = False) -> Type:
    """An http(s) URL in which only PLACEHOLDERS ('{name}') are filled in; nothing else in braces.

    No '.' or '..' path segments; with FILE, the last segment names a file (a download is cached
    under that name).
    """
    named = ", ".join(f"{{{p}}}" for p in placeholders)

    def valid(value: Any) -> bool:
        if not _string(value) or len(value) > 2048:
            return False
        filled = value
        for placeholder in placeholders:
            filled = filled.replace(f"{{{placeholder}}}", "x")
        segments = filled.split("?")[0].split("/")[3:]
        if any(segment in (".", "..") or len(segment) > 200 for segment in segments):
            return False
        return _URL.fullmatch(filled) is not None and (not file or bool(segments and segments[-1]))

    expected = "an http(s) URL" + (" of a file" if file else "") + (f" ({named} filled in)" if placeholders else "")
    expected += ", without '.' or '..' path segments"
    return Type("URL" + (f" with {named}" if placeholders else ""), expected, valid)


# Image registries (and a path): distribution/reference grammar (github.com/distribution/reference,
# regexp.go: domain-component, port-number, path-component with separators [_.], __, [-]*).
_DOMAIN_COMPONENT = r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_PATH_COMPONENT = r"[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*"
REGISTRY = pattern(
    "image registry",
    "a registry host with an optional port and path, e.g. 'registry.example.com:5000/k8s'",
    rf"{_DOMAIN_COMPONENT}(\.{_DOMAIN_COMPONENT})*(:[0-9]{{1,5}})?(/{_PATH_COMPONENT})*/?",
    max_length=255,
)

# Linux interface names: 1-15 bytes (IFNAMSIZ 16), no '/', ':' or white space (net/core/dev.c dev_valid_name).
INTERFACE = pattern(
    "interface name", "a network interface name (1-15 of A-Z a-z 0-9 _ . -), e.g. 'eth0'",
    r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}", max_length=15,
)


def _interface_regex(value: Any) -> bool:
    if not _string(value) or not re.fullmatch(r"[A-Za-z0-9_.^$*+?|()\[\]{},:-]{1,128}", value, re.ASCII):
        return False
    try:
        re.compile(value)
    except re.error:
        return False
    return True


INTERFACE_REGEX = Type(
    "interface regex",
    "a regular expression over interface names, e.g. '^eth1$' (letters, digits and _ . ^ $ * + ? | ( ) [ ] { } , : -)",
    _interface_regex,
)


def _local_path(value: Any) -> bool:
    """A path on the operator's machine: absolute or under ~, printable, no '..' component."""
    if not _string(value) or not 0 < len(value) <= 4096:
        return False
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in value):
        return False
    if not (value.startswith("/") or value == "~" or value.startswith("~/")):
        return False
    return ".." not in value.split("/")


LOCAL_PATH = Type(
    "local path", "an absolute path or one under '~/', printable, without '..' components", _local_path,
)

STRING_VERSION = pattern("version X.Y.Z", "a version X.Y.Z, e.g. '2.3.4'", _VERSION, max_length=16)
KUBE_VERSION = pattern(
    "version X.Y.Z", "a version X.Y.Z (a leading 'v' is allowed), e.g. '1.37.1'", rf"v?{_VERSION}", max_length=16
)
CALICO_VERSION = pattern("version vX.Y.Z", "a version vX.Y.Z, e.g. 'v3.31.7'", rf"v{_VERSION}", max_length=16)
DEB_REVISION = pattern("Debian revision", "a Debian revision, e.g. '1.1'", r"[0-9][0-9A-Za-z.+~]{0,31}", max_length=32)
DNS_NAME = Type(
    "DNS-1123 name", "a DNS-1123 name (lower-case letters, digits, '-' and '.', at most 253), e.g. 'kubernetes'",
    is_dns_subdomain, _upper_case_hint,
)
IPV4 = Type("IPv4 address", "an IPv4 address, e.g. '192.168.1.10'", _ipv4)
CIDR = Type("IPv4 CIDR", "an IPv4 network in CIDR form, e.g. '10.244.0.0/16'", _cidr, _cidr_hint)
PORT = integer(1, 65535, "port")
BOOL = Type("boolean", "True or False (a Python bool)", lambda v: isinstance(v, bool))
SHA256 = pattern("SHA-256", "a SHA-256 digest (64 lower-case hex digits)", r"[0-9a-f]{64}", max_length=64)
HOST_PORT = Type("HOST:PORT", "HOST:PORT, e.g. 'api.example.com:16443'", _host_port)
SANS = Type(
    "list of DNS names / IPs", "a list of DNS-1123 names ('*.' allowed first) or IPv4 addresses", _list_of_sans,
)


# Keys that belong to others and may appear in inventories and group data: pyinfra's global
# arguments (pyinfra 3.10 api/arguments.py: every one is also read from host data as a default)
# and its connectors' data (each connector's `data_meta`: ssh, docker/podman, @fake), plus the
# per-host and cluster-wide keys the project's own inventory tools set. Anything else is a typo.
FOREIGN_KEYS: Mapping[str, str] = {
    **{key: "pyinfra global argument" for key in (
        "_sudo", "_sudo_user", "_use_sudo_login", "_sudo_password", "_preserve_sudo_env", "_su_user",
        "_use_su_login", "_preserve_su_env", "_su_shell", "_su_password", "_doas", "_doas_user", "_dzdo",
        "_dzdo_user", "_shell_executable", "_chdir", "_env", "_success_exit_codes", "_timeout", "_get_pty",
        "_stdin", "_temp_dir", "_ignore_errors", "_continue_on_error", "_if", "_parallel", "_run_once",
        "_serial", "_retries", "_retry_delay", "_retry_until",
    )},
    **{key: "pyinfra ssh connector" for key in (
        "ssh_hostname", "ssh_port", "ssh_user", "ssh_password", "ssh_key", "ssh_key_password",
        "ssh_allow_agent", "ssh_look_for_keys", "ssh_forward_agent", "ssh_config_file", "ssh_known_hosts_file",
        "ssh_strict_host_key_checking", "ssh_paramiko_connect_kwargs", "ssh_connect_retries",
        "ssh_connect_retry_min_delay", "ssh_connect_retry_max_delay", "ssh_file_transfer_protocol",
    )},
    **{key: "pyinfra docker/podman connector" for key in (
        "docker_identifier", "docker_platform", "docker_architecture",
    )},
    **{key: "pyinfra @fake connector (tests)" for key in ("fake_delay", "fake_delay_jitter", "fake_responses")},
}
