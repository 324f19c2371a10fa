"""Vagrant lab fixtures: the inventory loaded on recorded output, and real `vagrant` runs.

Recorded output replaces the vagrant binary through `recorded()`, a runner of the test
suite's own: `use_recorded` makes vagrant/inventory.py's default runner answer from it.

No VM is started: the `vagrant` runs are `validate --ignore-provider`, and `status`,
`ssh-config` and `standin-dump` with the stand-in provider of standin_provider.rb
(a test double). All of them start at once, in one session fixture, since each
costs Vagrant's few seconds of start-up; they touch only temporary directories.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pyinfra.api.exceptions import InventoryError

from vagrant import inventory as vagrant_inventory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RECORDED = HERE / "recorded"
INVENTORY = REPO / "inventories" / "vagrant.py"
# Environment that changes what the Vagrantfile or the inventory builds: never inherited by a test.
LAB_ENV = (
    "TOPOLOGY", "VAGRANT_LAB_NETWORK", "VAGRANT_LAB_BOX", "VAGRANT_LAB_CALICO_INTERFACE",
    "VAGRANT_LAB_CP_CPUS", "VAGRANT_LAB_CP_MEMORY", "VAGRANT_LAB_WORKER_CPUS", "VAGRANT_LAB_WORKER_MEMORY",
    "VAGRANT_DOTFILE_PATH", "VAGRANT_DEFAULT_PROVIDER", "VAGRANT_CWD", "VAGRANT_HOME", "VAGRANT_VAGRANTFILE",
    "STANDIN_RUNNING",
)
# Environment overrides of the "remembered 3+3" Vagrantfile run (both sides must apply them alike).
OVERRIDES = {"VAGRANT_LAB_NETWORK": "10.20.30.0/24", "VAGRANT_LAB_CP_MEMORY": "4096", "VAGRANT_LAB_WORKER_CPUS": "2"}
VAGRANT = shutil.which("vagrant")


@pytest.fixture(autouse=True)
def clean_lab_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TOPOLOGY or VAGRANT_LAB_* of the caller's shell leaks into a test."""
    for name in LAB_ENV:
        monkeypatch.delenv(name, raising=False)


def recorded(directory: Path) -> vagrant_inventory.Runner:
    """A runner answering from recorded output: DIR/status.txt and DIR/ssh-config.txt."""
    files = {"status": "status.txt", "ssh-config": "ssh-config.txt"}

    def run(args: Sequence[str]) -> str:
        """The recorded output of `vagrant ARGS`."""
        if not args or args[0] not in files:
            raise InventoryError(f"no recorded output for `vagrant {shlex.join(args)}` in {directory}")
        return (directory / files[args[0]]).read_text()

    return run


def use_recorded(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """vagrant/inventory.py's default runner answers from DIRECTORY instead of running vagrant."""
    monkeypatch.setattr(vagrant_inventory, "vagrant_runner", lambda env=os.environ: recorded(directory))


def load_inventory(monkeypatch: pytest.MonkeyPatch, recorded_dir: Path, **env: str) -> ModuleType:
    """inventories/vagrant.py executed as a module, answering from RECORDED_DIR, with ENV set."""
    use_recorded(monkeypatch, recorded_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return _exec_inventory("vagrant_inventory_under_test")


@pytest.fixture
def inventory() -> ModuleType:
    """The inventory's functions: vagrant/inventory.py (importing it runs nothing)."""
    return vagrant_inventory


@dataclass
class Run:
    """One finished `vagrant` run."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def vagrant_env(home: Path, dotfile: Path, standin: bool, **extra: str) -> dict[str, str]:
    """A hermetic environment for `vagrant`: own home and dotfile directory, no update checks."""
    env = {k: v for k, v in os.environ.items() if k not in LAB_ENV}
    env.update(VAGRANT_HOME=str(home), VAGRANT_DOTFILE_PATH=str(dotfile), VAGRANT_CHECKPOINT_DISABLE="1",
               VAGRANT_BOX_UPDATE_CHECK_DISABLE="1", VAGRANT_CWD=str(REPO))
    if standin:
        env["VAGRANT_DEFAULT_PROVIDER"] = "standin"
    env.update(extra)
    return env


def run_vagrant(args: list[str], env: Mapping[str, str]) -> Run:
    """`vagrant ARGS` in the repository."""
    done = subprocess.run(["vagrant", *args], cwd=REPO, env=dict(env), capture_output=True, text=True, timeout=180, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


@dataclass
class VagrantRuns:
    """Every real `vagrant` run of the suite, started together; `get` waits for one."""

    futures: dict[str, Future[Any]]
    dirs: dict[str, Path]  # each run's VAGRANT_DOTFILE_PATH
    envs: dict[str, dict[str, str]]

    def get(self, key: str) -> Any:
        return self.futures[key].result(timeout=300)


@pytest.fixture(scope="session")
def vagrant_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VagrantRuns]:
    """Start all real `vagrant` runs at once (validate x2, standin-dump x2, the inventory's status + ssh-config)."""
    if VAGRANT is None:
        pytest.skip("the vagrant binary is absent (apt-get install vagrant; CI installs it)")
    root = tmp_path_factory.mktemp("vagrant")
    keys = ("validate-1+4", "validate-3+3", "dump-default", "dump-remembered", "e2e")
    dirs = {key: root / f"dot-{key}" for key in keys}

    def env(key: str, **extra: str) -> dict[str, str]:
        """Own home (the stand-in's for all but validate) and dotfile directory for job KEY."""
        home = root / f"home-{key}"
        home.mkdir()
        standin = not key.startswith("validate")
        if standin:
            (home / "Vagrantfile").write_text(f'load "{HERE / "standin_provider.rb"}"\n')
        return vagrant_env(home, dirs[key], standin, **extra)

    # A 3+3 VM created earlier (by the stand-in: Vagrant wants the provider of a created machine
    # installed): with TOPOLOGY unset, both sides must pick 3+3.
    remembered = dirs["dump-remembered"] / "machines" / "k8s-master-node1" / "standin"
    remembered.mkdir(parents=True)
    (remembered / "id").write_text("0b9c4d7e-stand-in\n")
    module = vagrant_inventory
    # Environments are made here, in the main thread: tests change os.environ while the runs go on.
    envs = {
        "validate-1+4": env("validate-1+4", TOPOLOGY="1+4"),
        "validate-3+3": env("validate-3+3", TOPOLOGY="3+3"),
        "dump-default": env("dump-default"),
        "dump-remembered": env("dump-remembered", **OVERRIDES),
        "e2e": env("e2e", STANDIN_RUNNING="all"),
    }
    e2e_runner = module.vagrant_runner(envs["e2e"])  # made here: tests replace vagrant_runner meanwhile
    jobs: dict[str, Callable[[], Any]] = {
        "validate-1+4": lambda: run_vagrant(["validate", "--ignore-provider"], envs["validate-1+4"]),
        "validate-3+3": lambda: run_vagrant(["validate", "--ignore-provider"], envs["validate-3+3"]),
        "dump-default": lambda: run_vagrant(["standin-dump"], envs["dump-default"]),
        "dump-remembered": lambda: run_vagrant(["standin-dump"], envs["dump-remembered"]),
        "e2e": lambda: _inventory_groups(module, e2e_runner, envs["e2e"]),
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        yield VagrantRuns({key: pool.submit(job) for key, job in jobs.items()}, dirs, envs)


def _exec_inventory(name: str) -> ModuleType:
    """Execute inventories/vagrant.py as module NAME (registered, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(name, INVENTORY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _inventory_groups(module: ModuleType, runner: vagrant_inventory.Runner, env: dict[str, str]) -> dict[str, Any]:
    """The inventory's groups and layout, from the real vagrant binary (stand-in provider) with ENV."""
    return {"groups": module.groups(runner, env), "layout": module.layout(env)}
