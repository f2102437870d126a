"""Sub-commands of `facemap-gui`; each module has `register(subparsers)` and sets its `run`."""

from facemap_gui.commands import demo, doctor, models, process

COMMANDS = [process, demo, models, doctor]
