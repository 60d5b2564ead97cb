"""Input adapters shared by tasks: text tables and folders, TFDS, splits."""
