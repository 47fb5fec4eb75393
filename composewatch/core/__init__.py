"""The pure core: decisions over frozen data. Nothing here imports docker, touches the clock
or does I/O beyond what a module's docstring says (a test checks the imports)."""
