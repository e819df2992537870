"""sealloss.data."""
