"""Findings of a conversion: errors stop it, warnings name what was ignored or changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploys.model import ClusterConfigError

ERROR = "error"
WARNING = "warning"


class KubesprayError(ClusterConfigError):
    """A kubespray inventory that cannot become a cluster here, or one we cannot export; says where and why."""


@dataclass(frozen=True)
class Finding:
    """One problem, naming its subject (a host, group, key or file)."""

    level: str  # ERROR or WARNING
    subject: str  # e.g. "host 'node1'", "group 'kube-master'", "key 'container_manager'"
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass
class Report:
    """Findings in the order found, each reported once."""

    findings: list[Finding] = field(default_factory=list)

    def error(self, subject: str, message: str) -> None:
        """Record something that would break (or silently change) the cluster."""
        self._add(Finding(ERROR, subject, message))

    def warning(self, subject: str, message: str) -> None:
        """Record something that is ignored or adapted; the cluster still works."""
        self._add(Finding(WARNING, subject, message))

    def _add(self, finding: Finding) -> None:
        if finding not in self.findings:
            self.findings.append(finding)

    @property
    def errors(self) -> list[Finding]:
        """The findings that stop a conversion."""
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """The findings that are only reported."""
        return [f for f in self.findings if f.level == WARNING]

    def raise_errors(self, what: str) -> None:
        """Raise KubesprayError listing every error, if there is any."""
        if self.errors:
            raise KubesprayError(format_findings(what, self.errors))


def format_findings(what: str, findings: list[Finding]) -> str:
    """A readable block: a title line, then one finding per line."""
    lines = "\n".join(f"  - {finding}" for finding in findings)
    kind = findings[0].level if findings else ERROR
    return f"{what}: {len(findings)} {kind}(s):\n{lines}"
