"""avfr's application layer: the `avfr` command (cli) and `avfr demo`, above the sender and the
receiver. Nothing below imports it (tests/test_layers.py), so the library, the sender and the
receiver stay usable from Python without the command line."""
