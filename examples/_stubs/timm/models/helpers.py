"""``load_pretrained`` is imported by some upstream files but never called in training."""


def load_pretrained(*args, **kwargs):
    raise NotImplementedError("the timm stand-in cannot load ImageNet weights")
