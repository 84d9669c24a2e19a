"""Run the swaplm command line from a checkout: ``python cli.py score ...``."""
from swaplm.cli import main

if __name__ == "__main__":
    main()
