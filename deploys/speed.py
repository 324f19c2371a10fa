"""Controller CPU per operation: two caches in front of pyinfra 3.10's planning hot spots.

Measured with `python -m tests.speed 3+50 --profile` (a converged no-op of a fake 3+50 cluster,
run by the CLI): of ~15 s profiled, 5.6 s went to `get_operation_order_from_stack`
(pyinfra/api/util.py) and 2.6 s to `typing.get_type_hints(AllArguments)` through
`all_global_arguments` (pyinfra/api/arguments.py), both called for every operation on every host.

- The operation order: pyinfra takes `inspect.stack()`, which for every frame of every call reads
  source context lines and resolves the file by scanning modules (`getframeinfo`), and keeps only
  each frame's file name and line number. `operation_order_from_stack` walks the same frames and
  computes the same two values the same way (`inspect.getsourcefile(frame) or inspect.getfile(frame)`,
  line from the instruction's code position), caching the file per code file name and the line
  per (code, instruction): both depend only on those, within a run.
- The global argument types: `get_type_hints` of a class that does not change, computed once
  (a fresh list is returned each call, as before).

Opt-in (KUBEADM_PYINFRA_SPEED=1): the caches replace four of pyinfra's module functions, and the
project does not patch pyinfra by default (a run is pyinfra's own). Guarded: installed only on the
pyinfra release whose code this copies (3.10.x), and only when the functions replaced are still
pyinfra's own; otherwise pyinfra runs unchanged. The results are
checked against pyinfra's originals in tests/deploys/test_speed.py.
"""

from __future__ import annotations

import inspect
import os
import sys
from functools import lru_cache
from importlib.metadata import version
from typing import Any, get_type_hints

SUPPORTED = ("3.10.",)
ENABLE = "KUBEADM_PYINFRA_SPEED"  # set to 1 to use the caches; unset, pyinfra runs as it is

ORIGINALS: dict[str, Any] = {}  # pyinfra's own functions, kept (tests compare against them)
_FILES: dict[str, str] = {}
_LINES: dict[tuple[Any, int], int] = {}


def _filename(frame: Any) -> str:
    code = frame.f_code
    name = _FILES.get(code.co_filename)
    if name is None:  # what inspect.getframeinfo reports (Python 3.11-3.13)
        name = _FILES[code.co_filename] = inspect.getsourcefile(frame) or inspect.getfile(frame)
    return name


def _lineno(frame: Any) -> int:
    key = (frame.f_code, frame.f_lasti)
    line = _LINES.get(key)
    if line is None:  # inspect.getframeinfo: the instruction's start line, else f_lineno
        start = inspect._get_code_position(frame.f_code, frame.f_lasti)[0]  # type: ignore[attr-defined]
        line = _LINES[key] = frame.f_lineno if start is None else start
    return line


def operation_order_from_stack(state: Any) -> list[int]:
    """pyinfra.api.util.get_operation_order_from_stack, without reading source lines."""
    import pyinfra
    from pyinfra.api.util import PYINFRA_INSTALL_DIR

    frames = []
    frame = sys._getframe(1)  # the caller: the same frames inspect.stack() gives inside the original, minus itself
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    frames.append(None)  # where the original's own frame (in pyinfra, skipped) is: the search may end there
    i = 0
    if state.current_deploy_filename:
        for i, item in enumerate(frames):
            if item is not None and _filename(item) == state.current_deploy_filename:
                break
    line_numbers = []
    if pyinfra.is_cli:
        line_numbers.append(state.current_op_file_number)
    for item in frames[i:]:
        if item is None or _filename(item).startswith(PYINFRA_INSTALL_DIR):
            continue
        line_numbers.append(_lineno(item))
    del frames, frame
    return line_numbers


@lru_cache(maxsize=1)
def _global_argument_types() -> tuple[tuple[str, type], ...]:
    from pyinfra.api.arguments import AllArguments

    return tuple(get_type_hints(AllArguments).items())


def all_global_arguments() -> list[tuple[str, type]]:
    """pyinfra.api.arguments.all_global_arguments, its type hints computed once."""
    return list(_global_argument_types())


def _host_data_view(data: Any) -> Any:
    """A look-up with HostData.__getattr__'s answers (first layer holding the key, copied), merged once."""
    from copy import copy

    from pyinfra.api.host import HostData

    if type(data) is not HostData:
        return lambda key, missing: getattr(data, key, missing)
    merged = data.dict()  # HostData.dict(): every layer, the first one winning, as __getattr__ finds them
    return lambda key, missing: copy(merged[key]) if key in merged else missing


def pop_global_arguments(state: Any, host: Any, kwargs: dict[str, Any]) -> tuple[Any, list[str]]:
    """pyinfra.api.arguments.pop_global_arguments (3.10), the host's data layers merged once per call
    instead of walked once per global argument (~40 of them)."""
    from pyinfra.api.arguments import all_argument_meta, default_sentinel
    from pyinfra.api.exceptions import ArgumentTypeError
    from pyinfra.api.util import raise_if_bad_type
    from pyinfra.context import ctx_config

    config = state.config
    if ctx_config.isset():
        config = ctx_config.get()
        assert config is not None

    cdkwargs = host.current_deploy_kwargs
    meta_kwargs: dict[str, Any] = cdkwargs or {}
    host_data = _host_data_view(host.data)

    arguments: dict[str, Any] = {}
    found_keys: list[str] = []

    for key, type_ in all_global_arguments():
        argument_meta = all_argument_meta[key]
        handler = argument_meta.handler
        default: Any = argument_meta.default(config)

        host_default = host_data(key, default_sentinel)
        if host_default is not default_sentinel:
            default = host_default

        if key in kwargs:
            found_keys.append(key)
            value = kwargs.pop(key)
        else:
            value = meta_kwargs.get(key, default)

        if handler:
            value = handler(config, value)

        if value != default:
            raise_if_bad_type(value, type_, ArgumentTypeError, f"Invalid argument `{key}`:")

        arguments[key] = value
    return arguments, found_keys


@lru_cache(maxsize=1)
def _connectors() -> tuple[tuple[str, Any], ...]:
    from pyinfra.api.connectors import _load_connector, entry_points

    return tuple((entrypoint.name, _load_connector(entrypoint)) for entrypoint in entry_points(group="pyinfra.connectors"))


def get_all_connectors() -> dict[str, Any]:
    """pyinfra.api.connectors.get_all_connectors, the installed entry points read once per process (pyinfra
    reads them for every host of the inventory: ~5 ms each)."""
    return dict(_connectors())


def supported(release: str | None = None) -> bool:
    """Whether this pyinfra release is the one whose functions are copied here."""
    try:
        release = release if release is not None else version("pyinfra")
    except Exception:  # not installed as a distribution: do not guess
        return False
    return release.startswith(SUPPORTED)


def install() -> bool:
    """Put the caches in place (once); return whether they are in place."""
    import importlib

    arguments, connectors, deploy, facts, inventory, operation, util = (
        importlib.import_module(f"pyinfra.api.{name}")
        for name in ("arguments", "connectors", "deploy", "facts", "inventory", "operation", "util"))

    if operation.get_operation_order_from_stack is operation_order_from_stack:
        return True
    if not supported() or os.environ.get(ENABLE) != "1":
        return False
    own = (operation.get_operation_order_from_stack is util.get_operation_order_from_stack
           and arguments.all_global_arguments.__module__ == "pyinfra.api.arguments"
           and facts.all_global_arguments is arguments.all_global_arguments
           and arguments.pop_global_arguments.__module__ == "pyinfra.api.arguments"
           and all(m.pop_global_arguments is arguments.pop_global_arguments for m in (deploy, facts, operation))
           and connectors.get_all_connectors.__module__ == "pyinfra.api.connectors"
           and inventory.get_all_connectors is connectors.get_all_connectors
           and hasattr(inspect, "_get_code_position"))
    if not own:  # someone else replaced them, or Python changed: leave pyinfra as it is
        return False
    ORIGINALS.update(get_operation_order_from_stack=util.get_operation_order_from_stack,
                     all_global_arguments=arguments.all_global_arguments,
                     pop_global_arguments=arguments.pop_global_arguments,
                     get_all_connectors=connectors.get_all_connectors)
    operation.get_operation_order_from_stack = operation_order_from_stack
    arguments.all_global_arguments = all_global_arguments
    facts.all_global_arguments = all_global_arguments
    for module in (arguments, deploy, facts, operation):
        module.pop_global_arguments = pop_global_arguments
    # get_execution_connectors (connectors.py) and Inventory (inventory.py) call it by these names
    connectors.get_all_connectors = inventory.get_all_connectors = get_all_connectors
    return True
