"""The Python client and the `adamant` command line."""
