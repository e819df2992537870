"""sealloss.training: SEAL during training.

:class:`~sealloss.training.wrapper.AlternatingWrapper` composes its parts, each owning its
settings, counters and ``state_dict``: :class:`~sealloss.training.lossnet_trainer.LossNetTrainer`
(the loss-net's optimizer, steps and non-finite guards; reused by :mod:`.pretrain`),
:class:`~sealloss.training.energy_term.EnergyTerm` (the pose-net term and its force measurement)
and two :class:`~sealloss.training.lam.LambdaController`. :mod:`.batch` holds the scored batch
(converted, checked and flattened once per call), :mod:`.diagnostics` the one statistics record
(:class:`~sealloss.training.diagnostics.SealStats`) and the pure diagnostics, :mod:`.settings`
the flat-settings builder, :mod:`.distributed` the collectives.

Imports go one way: options/distributed/diagnostics/batch/lam -> lossnet_trainer ->
energy_term -> wrapper -> settings; pretrain uses lossnet_trainer. No part imports the wrapper.
"""
