"""Engine-free domain types: Segment-Spec messages, import mappings, keys."""
