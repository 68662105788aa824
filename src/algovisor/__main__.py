"""`python -m algovisor` is the `algovisor` command."""

from algovisor.cli.main import main

main()
