"""The live engine (Qt-free): the capture/inference worker the window and the soak drive, and the app's settings."""
