"""The desktop app (PySide6): window, HUD, menus, dialogs. Only this package imports Qt; the engine it drives
(`facemap_gui.live`) is Qt-free."""
