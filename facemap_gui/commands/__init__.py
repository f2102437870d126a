"""Sub-commands of `facemap-gui`; each module has `register(subparsers)` and sets its `run`."""

from facemap_gui.commands import bench, cameras, demo, doctor, gui, models, process, track

COMMANDS = [gui, process, track, demo, models, cameras, doctor, bench]
