"""Every test: nothing here changes a normal run; under mutmut (`make mutation`) one pyinfra look-up is adapted.

mutmut wraps each function of deploys/ in a trampoline `(*args, **kwargs)` (functools.wraps keeps
the real signature in __wrapped__). pyinfra binds a fact's arguments with inspect.getcallargs,
which does not follow __wrapped__, so NodeFacts.command would be called with `args=`/`kwargs=`;
under mutmut the binding follows the real signature, as inspect.signature does.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any


def _getcallargs(func: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


if "mutmut" in sys.modules:
    from pyinfra.api import facts as _pyinfra_facts

    _pyinfra_facts.getcallargs = _getcallargs  # type: ignore[assignment]
