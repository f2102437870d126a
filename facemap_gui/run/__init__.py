"""What every front end runs: its options made into a pipeline, and the one frame loop."""
