"""sealloss.pose: the one pose convention and what every layer above needs of a pose: the
skeleton (joint order, parents, sides), the canonical frame and its conversions, bones and
forward kinematics, and the input checks."""
