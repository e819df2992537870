"""The demo and benchmark harness: not part of the core API.

* :mod:`sealloss.demo.experiment`: paired training arms (plain, SEAL, ...) with shared seeds,
  data order and schedule (``bench/``, ``examples/``, ``sealloss demo``);
* :mod:`sealloss.demo.baselines`: the SimpleBaseline lifter those arms train;
* :mod:`sealloss.demo.plots`: figures (matplotlib, optional);
* :mod:`sealloss.demo.runner`: what ``sealloss demo`` runs
  (:func:`~sealloss.demo.runner.run_demo`).

The sub-modules are imported on use (this package imports nothing), so
``import sealloss.demo.plots`` does not load the training harness.
"""
