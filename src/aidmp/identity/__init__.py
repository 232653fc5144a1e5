"""Identity resolution: identifiers from events, the identity graph, merges and evaluation."""
