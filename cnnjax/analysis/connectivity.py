"""Weight counts of the lecture's connectivity example: global vs local connectivity vs weight sharing.

Why convolutions: 7 inputs and 3 hidden units with receptive field 3 need 21 weights fully connected,
9 locally connected, and 3 when the local weights are shared (a 1-D convolution, biases not counted).
"""


def connectivity_weights(num_inputs: int, num_hidden: int, receptive_field: int) -> dict[str, int]:
  """{"global": inputs * hidden, "local": hidden * field, "shared": field} (weights only, no biases)."""
  if not 1 <= receptive_field <= num_inputs or num_hidden < 1:
    raise ValueError(f"receptive_field={receptive_field} must be between 1 and num_inputs={num_inputs}, "
                     f"and num_hidden={num_hidden} >= 1")
  return {"global": num_inputs * num_hidden, "local": num_hidden * receptive_field, "shared": receptive_field}
