"""`python -m rules_engine.cli`: the same as the `loyalty` command."""

from rules_engine.cli import main

main()
