"""Sub-commands of the ``findsupport`` CLI, one module per family of commands."""
