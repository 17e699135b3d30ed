"""Serving trained or converted models: load (a weights directory or a run), preprocess, predict, export.

load gives one Served model either way; preprocess turns uint8 pictures into the model's input as
it was trained or as the source library evaluates it; predict gives top-K classes; export writes a
TensorFlow SavedModel or a serialized jax.export artifact for use outside cnnjax.
"""
