"""The long-running monitor: wiring of scheduler, checks, notifier and web view.

``service`` is the daemon itself, wiring only: it builds, runs and stops the
components, one module each (``control``, ``context``, ``generations``, ``checking``,
``scheduling``, ``reload``, ``notifying``, ``checkpoints``, ``discovery``, ``drain``,
``memory``, ``status``). ``scheduler`` is the one module that imports APScheduler,
``workers`` the PostgreSQL lease-based variant, ``demo`` the offline end-to-end run.
"""
