"""`facemap-gui bench`: the clip, the measured run, memory sampling, the straight-line baseline and the report;
`commands/bench.py` is the command on top."""

# Photo magnification per scene of the generated clip: "far" is exactly the demo clip (face 80-135 px tall in
# 720p), "near" puts the face 200-340 px tall, as in front of a laptop camera. Here, not in clip.py, so that the
# command's parser builds without the clip's imports.
SCENES = {"far": 1.0, "near": 2.5}
