"""Sub-commands of the ``kws`` command line, one module each (see kws.cli)."""
