"""Sub-commands of the ``finfeed`` CLI; each module has ``register(subparsers)``."""
