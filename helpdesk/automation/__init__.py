"""automation domain: routing rules, assignment, time-based automations."""
