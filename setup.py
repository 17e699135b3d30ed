"""Build shim: everything is in pyproject.toml except which folders become which packages.

Why: the wheel carries the repository's top-level configs/ as cnnjax/configs (read by
cnnjax.train.config_files), and pyproject's packages.find cannot add a package whose folder lies
outside cnnjax/. Nothing else of the checkout (experiments/, benchmarks/, tests/) is packaged.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["cnnjax", "cnnjax.*"]), "cnnjax.configs"],
      package_dir={"cnnjax.configs": "configs"})
