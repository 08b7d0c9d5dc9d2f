"""Raw extracts: the raw contract, atomic loads, checks, and the three sources (simulator, files, Dune)."""
