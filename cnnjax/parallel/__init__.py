"""Data parallelism: a one-axis device mesh, batch sharding and multi-host initialisation."""
