"""`python cli.py …` does what `loyalty …` does, without installing the console script."""

from rules_engine.cli import main

if __name__ == "__main__":
    main()
