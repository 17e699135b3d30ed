"""Weights in and out: PyTorch state dicts <-> cnnjax variables, and weights directories.

torch_shim imports torchvision/timm with the CPU torch; state_dict reads .pth/.pt/.safetensors
files into numpy; mapping turns a per-model list of (torch module, cnnjax module, layout) entries
into both conversion directions, with one error naming unknown and missing keys; directory writes and
reads weights directories (variables + weights.json), what `cnnjax convert` makes and the other commands read.
"""
