"""``python -m d2lite train ...``, also as ``torchrun -m d2lite train ...``: see run/cli.py."""

import sys

from d2lite.run.cli import main

if __name__ == "__main__":
    sys.exit(main())
