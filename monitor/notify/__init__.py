"""Alerts: follow the log from a durable cursor and send through Apprise.

Pure: ``routing`` (who gets an alert, at which severity), ``render`` (its words) and
``digest`` (when a digest is due, how long a retry waits). Shell: ``notifier`` (the
delivery loop), ``outcomes`` (what is settled and retried, recorded on ``$notifier``),
``channels`` (Apprise) and ``secrets`` (channel URLs kept out of text and logs).
"""
