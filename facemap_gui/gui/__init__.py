"""The desktop app (PySide6). Only this package imports Qt; `settings` and `worker` stay Qt-free so tests
reach them without a display."""
