"""``python -m canary_mc`` runs the command line."""

from canary_mc.cli.app import main

main()
