"""The harness: plan, calibrate and time the cells of a matrix (it opens executors, so it sits above them), and the I/O bench."""
