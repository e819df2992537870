"""sealloss.integrations."""
