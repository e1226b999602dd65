"""The API's request path: numpy and the standard library only.

``values`` (cell typing), ``records`` (validating customer records against the schema),
``preprocessing`` (the fitted preprocessing as one frozen dataclass, also its JSON form),
``transform`` (records -> the prepared matrix), ``kernels`` and ``rules`` (centroid, mixture,
core-sample assignment), ``bundle`` (reading the serving bundle), ``model`` (one published
version), ``registry`` (the per-container cache) and ``results``. Nothing here imports pandas,
scikit-learn, scipy (but DBSCAN's KD-tree for very large batches), skops or plotly; ``make lint``
checks it with import-linter.
"""
