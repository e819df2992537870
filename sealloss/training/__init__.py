"""sealloss.training: SEAL during training: :class:`~sealloss.training.wrapper.AlternatingWrapper`
and the parts it is composed of, the lambda controller, loss-net pretraining and the
distributed collectives."""
