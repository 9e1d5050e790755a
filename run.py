#!/usr/bin/env python3
"""Entry point: `python run.py --help` lists the commands (start the node, status)."""

import sys

from spot_seda.runtime.cli import main

if __name__ == "__main__":
    sys.exit(main())
