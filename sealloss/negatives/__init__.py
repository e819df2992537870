"""sealloss.negatives."""
