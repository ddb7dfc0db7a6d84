"""The ``bamm`` command line: a thin layer over the engine (:mod:`bamm_core`)."""
