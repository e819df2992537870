"""Package discovery for setuptools (the metadata lives in setup.cfg).

Every package under ``sealloss/`` is found, not listed, and the top-level ``adapters/`` folder
is installed as ``sealloss.adapters`` (with any sub-packages it grows).
"""

from setuptools import find_packages, setup

packages = find_packages(include=["sealloss", "sealloss.*"])
packages += ["sealloss.adapters"] + [
    f"sealloss.adapters.{p}" for p in find_packages("adapters")
]
setup(packages=packages)
