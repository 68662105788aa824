"""The command line (Typer): every command calls a service; output is Rich or --json."""
