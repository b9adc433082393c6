"""The training stage: the loop, data-parallel processes, checkpoints, recipes."""
