"""tickets domain."""
