"""Input and output of bytes: audio encode/decode, and files written atomically."""
