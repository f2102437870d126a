"""`facemap-gui bench`: the clip, the measured run, memory sampling, the straight-line baseline and the report;
`commands/bench.py` is the command on top."""
