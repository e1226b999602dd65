"""Training: ``pipeline`` (upload bytes -> every artifact of a version) and ``run`` (publishing)."""
