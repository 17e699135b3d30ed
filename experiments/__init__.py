"""Studies built on the runner (reproductions, sweeps, lecture figures); they live next to configs/."""
