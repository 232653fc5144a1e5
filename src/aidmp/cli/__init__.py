"""The ``aidmp`` command line (Typer + Rich), one module per noun."""
