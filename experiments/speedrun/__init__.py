"""The Fashion-MNIST speedrun study (issue #20): seeds and lever ablations of configs/fashion_mnist_speedrun.py."""
