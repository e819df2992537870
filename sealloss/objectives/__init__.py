"""sealloss.objectives."""
