"""Stand-in: MixSTE imports ``LocalAttention`` through a variant that ``MixSTE2`` never builds."""


class LocalAttention:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("local_attention stand-in: install local-attention==1.4.3")
