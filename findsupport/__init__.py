"""findsupport: Find My Coaching Support for athletics coaches.

The entry points of the public Python API (used by the CLI, the web app and
the notebooks) are re-exported here: :class:`Engine` to search,
:func:`load_settings` for the settings every command reads.  The rest lives in
the packages named for what they hold (``findsupport.geo``,
``findsupport.catalog``, ``findsupport.ranking``, ``findsupport.search``,
``findsupport.web``).

``Engine`` is imported on first use (PEP 562), so ``import findsupport``
stays light for commands that never search.
"""

from typing import Any

__version__ = "0.1.0"

from .config import Settings, load_settings
from .errors import FindSupportError

__all__ = ["__version__", "Settings", "load_settings", "FindSupportError", "Engine"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from .search.engine import Engine

        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
