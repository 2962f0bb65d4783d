"""findsupport: Find My Coaching Support for athletics coaches.

The public Python API (used by the CLI, the web app and the notebooks) is
re-exported here as the packages that provide it land.
"""

__version__ = "0.1.0"

from .config import Settings, load_settings
from .errors import FindSupportError

__all__ = ["__version__", "Settings", "load_settings", "FindSupportError"]
