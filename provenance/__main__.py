"""``python -m provenance``: the command line."""

from provenance.cli import run

if __name__ == "__main__":
    run()
