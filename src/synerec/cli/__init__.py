"""The ``synerec`` command line."""
