"""Model families (one file each) and the registry that names them.

`get_model(name, **kwargs)` builds any registered model; `MODELS` lists them and `INPUTS` gives
each one's own input shape (`input_spec(name)`).
This package imports only jax/flax, never tensorflow or tfds.
"""

from cnnjax.models.registry import INPUTS, MODELS, UnknownModelError, get_model, input_spec, model_names

__all__ = ["INPUTS", "MODELS", "UnknownModelError", "get_model", "input_spec", "model_names"]
