"""The segmentation engine: pandas, scikit-learn, scipy and skops.

``loading`` (bytes -> table), ``schema`` (roles and typing), ``preprocess``, ``clustering`` and
``assigners`` (the four algorithms), ``metrics``, ``selection`` (k and the champion), ``profiling``
(profiles and names), ``segment_ids`` (stable ids), ``persistence`` (skops) and ``bundle`` (writes
the numpy serving bundle the API reads).
"""
