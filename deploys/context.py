"""The run context: what one pyinfra run shares between hosts and components, in one place.

pyinfra gives a deploy its `state` (one per run) and the current `host`; this project keeps
nothing on them. What a run shares lives in a `Run`, found by the pyinfra State it belongs to
(`of(state)`; a weak mapping, so a finished run's context goes with its State):

- the cluster model, built once per run from the whole inventory (`model`);
- whether it was checked before any host was contacted (`checked`), or the run stopped (`stopped`);
- each host's one look (`nodes`: host name -> facts.NodeState, read once, kept current by the operations);
- the join credentials, made by an ordered operation on the first control plane (`credentials`);
- the hosts in the run only to make those credentials (`credentials_only`, see `before_connect`).

Entry files (deploys/cluster.py, deploys/reset.py, ...) get the model with `entry_model(state)`:
it is None once the run is stopped for invalid input (exit 2, no traceback).

The check before connecting: pyinfra 3.10 offers no hook between loading the inventory and
connecting to the hosts (pyinfra_cli/cli.py `_main`: make_inventory, state.init, then
`logger.info("--> Connecting to hosts...")` and connect_all; State.init resets its callback
handlers, so a `host_before_connect` callback cannot be registered earlier). group_data/all.py,
which pyinfra loads with the inventory, calls `install_check_before_connect`: a filter on the
"pyinfra" logger (Python's logging API, nothing of pyinfra's is replaced) that, when the CLI
announces the connection, builds the model (nothing written) and stops the run on invalid input,
before any host is contacted. tests/deploys/test_cli.py proves it stops before "Connected".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NoReturn
from weakref import WeakKeyDictionary

from gevent.lock import RLock

from deploys import model, sshproxy

if TYPE_CHECKING:
    from deploys.facts import NodeState
    from deploys.join import JoinCredentials

GROUP_DATA = Path(__file__).resolve().parent.parent / "group_data"
# What pyinfra's CLI logs between initialising the state (inventory loaded) and connecting.
CONNECTING = "--> Connecting to hosts..."
DISCONNECTING = "--> Disconnecting from hosts..."
# Entry files that join nodes, so need the first control plane to make join credentials.
JOINING_ENTRIES = (GROUP_DATA.parent / "deploys" / "cluster.py",)


@dataclass
class Run:
    """What one run shares: see the module's docstring."""

    model: model.Cluster | None = None
    checked: bool = False
    stopped: bool = False
    nodes: dict[str, NodeState] = field(default_factory=dict)
    credentials: JoinCredentials | None = None
    credentials_only: set[str] = field(default_factory=set)
    decided: dict[str, Any] = field(default_factory=dict)  # once(): what a day-2 entry reads of the cluster
    lock: RLock = field(default_factory=RLock)
    looking: dict[str, RLock] = field(default_factory=dict)  # per host: its one look is being read (facts.node_state)


_RUNS: WeakKeyDictionary[Any, Run] = WeakKeyDictionary()


def of(state: Any) -> Run:
    """The context of the run STATE (a pyinfra State) belongs to, made on first use."""
    run = _RUNS.get(state)
    if run is None:
        run = _RUNS[state] = Run()
    return run


def cluster(state: Any, defaults: Mapping[str, Any] | None = None) -> model.Cluster:
    """The run's model, built once from the whole inventory (secrets written if missing)."""
    run = of(state)
    if run.model is None:
        from deploys import components

        run.model = model.build(state.inventory, defaults if defaults is not None else components.defaults())
    return run.model


def entry_model(state: Any) -> model.Cluster | None:
    """The model for an entry file, or None once the run is stopped (exit 2, no traceback) before any operation.

    When pyinfra did not load this repository's group_data/ (started elsewhere, without
    --group-data), nothing checked before connecting: the check is done here, before any
    operation, and a run that would miss the cluster's own group data stops. pyinfra loads an
    entry file once per host, each in a greenlet: the first one stops the run (gevent re-raises
    SystemExit in the main greenlet), the others do nothing.
    """
    sshproxy.install()  # uploads through a ProxyCommand arrive whole (also when group_data/ was not loaded)
    run = of(state)
    if run.stopped:
        return None
    skipped = [] if run.checked else model.skipped_group_data(state.inventory, GROUP_DATA)
    try:
        if skipped:
            names = ", ".join(str(path) for path in skipped)
            raise model.ClusterConfigError(
                f"pyinfra did not load {names}: it reads group_data/ only from the current directory and "
                f"from the inventory's directory. Run pyinfra from {GROUP_DATA.parent}, or add "
                f"--group-data {GROUP_DATA}"
            )
        return cluster(state)
    except model.ClusterConfigError as exc:
        stop(state, str(exc))


def once(state: Any, name: str, make: Callable[[], Any]) -> Any:
    """MAKE() the first time any host of the run asks for NAME while planning; the same value after."""
    run = of(state)
    with run.lock:
        if name not in run.decided:
            run.decided[name] = make()
        return run.decided[name]


def run_entry(state: Any, body: Callable[[model.Cluster], None]) -> None:
    """An entry file's BODY, run with the model; invalid input found while planning (a joined node at
    another version, a refused day-2 request) stops the run like the model's errors (exit 2)."""
    cluster = entry_model(state)
    try:
        if cluster is not None:
            body(cluster)
    except (model.VersionSkewError, model.ClusterConfigError) as exc:
        if not of(state).stopped:
            stop(state, str(exc))


def stop(state: Any, message: str) -> NoReturn:
    """Stop the run for invalid input found after connecting, once (the other hosts' greenlets see the flag)."""
    of(state).stopped = True
    model.stop(message, contacted=True)


def is_first_control_plane(state: Any, host: Any) -> bool:
    return host.name == cluster(state).first_control_plane.name


# ------------------------------------------------------------ before connect


class _BeforeConnect(logging.Filter):
    """Runs `before_connect` when pyinfra's CLI announces it connects (see the module's docstring)."""

    def __init__(self, defaults_factory: Callable[[], Mapping[str, Any]]) -> None:
        super().__init__()
        self.defaults_factory = defaults_factory
        self.stopped = False

    def filter(self, record: logging.LogRecord) -> bool:
        from pyinfra.context import ctx_state

        if record.msg == CONNECTING:
            if ctx_state.isset() and getattr(ctx_state.get(), "initialised", False):
                try:
                    before_connect(ctx_state.get(), self.defaults_factory)
                except SystemExit:
                    self.stopped = True
                    raise
        # Stopped before connecting: the CLI's closing "Disconnecting from hosts..." (disconnect_all
        # of the hosts it connected: none) would say otherwise.
        return not (self.stopped and record.msg == DISCONNECTING)


def install_check_before_connect(defaults_factory: Callable[[], Mapping[str, Any]]) -> None:
    """Have the run checked before pyinfra connects (called by group_data/all.py; once per process)."""
    logger = logging.getLogger("pyinfra")
    if not any(isinstance(f, _BeforeConnect) for f in logger.filters):
        logger.addFilter(_BeforeConnect(defaults_factory))


def before_connect(
    state: Any, defaults_factory: Callable[[], Mapping[str, Any]], joining: bool | None = None
) -> None:
    """Validate the inventory (nothing written) and stop on invalid input; no host is contacted yet.

    A run limited (--limit) to hosts that may join, without the first control plane, gets the
    first control plane added to it, for one operation only: making the join credentials
    (`credentials_only`; every other operation of the deploy leaves it alone). pyinfra loads the
    whole inventory whatever the limit; `state.limit_hosts` is the list of hosts the run activates.
    Only for the entry files that join nodes (JOINING_ENTRIES; JOINING says it for API use): a
    --limit'ed reset or day-2 run never gets a host it was not given.
    """
    run = of(state)
    if run.checked:
        return
    try:
        cluster_ = model.build(state.inventory, defaults_factory(), write_secrets=False)
    except model.ClusterConfigError as exc:
        model.stop(str(exc), contacted=False)
    run.checked = True
    limit = state.limit_hosts
    if isinstance(limit, list) and len(cluster_.nodes) > 1 and (
        _runs_an_entry_that_joins() if joining is None else joining
    ):
        first = state.inventory.get_host(cluster_.first_control_plane.name)
        if first not in limit and any(h.name in {n.name for n in cluster_.nodes} for h in limit):
            limit.append(first)
            run.credentials_only.add(first.name)


def _runs_an_entry_that_joins() -> bool:
    """Whether this pyinfra command runs one of JOINING_ENTRIES (its OPERATIONS arguments, read with click)."""
    import os

    import click

    ctx = click.get_current_context(silent=True)
    operations = ctx.params.get("operations", ()) if ctx is not None else ()
    wanted = {path.resolve() for path in JOINING_ENTRIES}
    return any(Path(os.path.abspath(str(op))).resolve() in wanted for op in operations if str(op).endswith(".py"))
