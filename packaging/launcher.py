"""PyInstaller entry point: the frozen app runs exactly what the `facemap-gui` console script runs."""

import sys

from facemap_gui.cli import main

if __name__ == "__main__":
    sys.exit(main())
