"""Pure: two normalized texts → a deterministic, exact diff with stats and a summary.

Imports only the extraction text model (``monitor.extract.blocks``) and the standard
library plus diff-match-patch.
"""
