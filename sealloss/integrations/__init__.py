"""sealloss.integrations: optional glue to training frameworks.

- :mod:`sealloss.integrations.lightning`: ``SealCallback`` for PyTorch Lightning (imported
  lazily; ``pip install 'sealloss[lightning]'``).
"""
