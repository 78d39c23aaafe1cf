"""The ``provgraph`` command line: thin commands that parse, call typed functions, and print."""
