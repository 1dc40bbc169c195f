"""surveys domain."""
