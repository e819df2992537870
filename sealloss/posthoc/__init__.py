"""sealloss.posthoc: what runs on a trained model's predictions: test-time refinement (per pose
and per clip), its ground-truth-free rivals, and plausibility scoring."""
