"""cnnjax: convolutional neural networks for image classification and segmentation in JAX.

Subpackages follow the data flow: layers -> models -> data -> train -> parallel -> analysis.
Importing the package imports nothing heavy; import the subpackage you need.
"""

__version__ = "0.1.0"
