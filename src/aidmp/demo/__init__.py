"""Demo data: a deterministic synthetic e-commerce shop (see :mod:`aidmp.demo.generator`)."""
