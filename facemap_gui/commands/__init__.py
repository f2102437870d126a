"""Sub-commands of `facemap-gui`; each module has `register(subparsers)` and sets its `run`."""

from facemap_gui.commands import bench, demo, doctor, gui, models, process

COMMANDS = [gui, process, demo, models, doctor, bench]
