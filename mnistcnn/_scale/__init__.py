"""The scale stage: training on several machines, prediction on a Dask cluster."""
