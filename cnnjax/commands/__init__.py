"""Command-line subcommands; each module exposes `run(argv) -> exit code` and is imported on demand."""
