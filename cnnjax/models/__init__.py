"""Model families (one file each) and the registry that names them.

`get_model(name, **kwargs)` builds any registered model; `MODELS` lists them.
This package imports only jax/flax, never tensorflow or tfds.
"""

from cnnjax.models.registry import MODELS, get_model, model_names

__all__ = ["MODELS", "get_model", "model_names"]
