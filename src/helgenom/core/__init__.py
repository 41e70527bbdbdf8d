"""Pure domain core: no framework, database or network imports."""
