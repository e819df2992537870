"""sealloss.nn."""
