"""sealloss.io: files: atomic writes, training checkpoints, loss-net weights (safetensors) and
the registry of shipped weights."""
