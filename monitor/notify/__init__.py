"""Alerts: follow the log from a durable cursor and send through Apprise.

``render`` (who gets what, and the words) and ``digest`` (when) are pure; ``notifier``
is the outbox shell that reads the store and records ``NotificationSent``/``Failed``.
"""
