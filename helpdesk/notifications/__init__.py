"""notifications domain: what the console's bell lists for each agent, and the mail copy."""
