"""sealloss.metrics."""
