"""The demo and benchmark harness: not part of the core API.

* :mod:`sealloss.demo.experiment`: paired training arms (plain, SEAL, ...) with shared seeds,
  data order and schedule (``bench/``, ``examples/``, ``sealloss demo``);
* :mod:`sealloss.demo.baselines`: the SimpleBaseline lifter those arms train;
* :mod:`sealloss.demo.pairs`: the data the demo and ``sealloss pretrain`` use (shipped clips or
  Human3.6M) and evenly spaced subsets;
* :mod:`sealloss.demo.skeleton_plots` and :mod:`sealloss.demo.curve_plots`: figures
  (matplotlib, optional), sharing :mod:`sealloss.demo.plot_common`;
* :mod:`sealloss.demo.selection`: which poses a figure shows;
* :mod:`sealloss.demo.runner`: what ``sealloss demo`` runs
  (:func:`~sealloss.demo.runner.run_demo`).

The sub-modules are imported on use (this package imports nothing), so
``import sealloss.demo.skeleton_plots`` does not load the training harness.
"""
