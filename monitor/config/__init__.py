"""``sources.toml`` and the environment → frozen ``Settings``, or located errors.

One declaration per setting: each field of ``settings`` declares its TOML key, kind,
bounds and one-line doc (``fields``). ``registry`` derives the tables and the keys
they accept; ``reader`` reads a table by those declarations (file:line:key problems,
secrets from the environment); ``monitor_table``, ``channels``, ``sources`` and
``rules`` add what is particular to each table; ``parse`` is the entry point
(``load_config``, ``parse_config``). ``docs`` and ``schema`` derive the docs' settings
tables and the API's JSON Schema. No network, no store.
"""
