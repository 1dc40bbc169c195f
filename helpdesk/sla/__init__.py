"""sla domain."""
