"""Sub-commands of the ``sealloss`` CLI that live in their own modules (one command each)."""
