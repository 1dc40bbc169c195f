"""The helpdesk core: tickets, customers, teams, SLAs, surveys and the agent console."""
