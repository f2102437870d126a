"""Model catalogue, download/verify/install, and the data directory models live in."""
