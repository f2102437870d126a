"""One frame in, one result out: detection, the crop, the landmark pipeline, tracking, smoothing, and
what is derived from a result (face signals, expressions, the neutral-face calibration)."""
