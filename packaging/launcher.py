"""PyInstaller entry point: the frozen app runs exactly what the `facemap-gui` console script runs."""

import multiprocessing
import sys

from facemap_gui.cli import main

if __name__ == "__main__":
    # Spawned children (a model's bounded test run, batch workers) start by running this script: in a frozen
    # app this makes them run their task instead of the command line.
    multiprocessing.freeze_support()
    sys.exit(main())
