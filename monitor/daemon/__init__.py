"""The long-running monitor: wiring of scheduler, checks, notifier and web view.

``service`` is the daemon itself (start-up and shutdown, reload, drain), ``scheduler``
the one module that imports APScheduler, ``workers`` the PostgreSQL lease-based
variant, ``demo`` the offline end-to-end run.
"""
