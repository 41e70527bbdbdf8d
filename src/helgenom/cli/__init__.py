"""The ``helgenom`` command line (Typer + Rich): parse, call one service, render."""
