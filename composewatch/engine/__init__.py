"""The Docker edge: the only package that imports `docker`."""
