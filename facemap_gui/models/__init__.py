"""Model catalogue, download/verify/install, and the generated stand-in models."""
