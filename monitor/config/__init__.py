"""``sources.toml`` and the environment → frozen ``Settings``, or located errors.

``settings`` is the frozen data every other package reads; ``parse`` turns text into
it (file:line:key errors, secrets from the environment). No network, no store.
"""
