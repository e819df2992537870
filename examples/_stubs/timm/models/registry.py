"""``register_model``: an identity decorator here."""


def register_model(fn):
    return fn
