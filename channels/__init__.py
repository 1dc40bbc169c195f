"""The outside world's doors into the helpdesk: ``email`` (IMAP in, SMTP out) and ``webform``."""
