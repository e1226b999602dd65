"""The API's request path: numpy and the standard library only.

``values`` (cell typing), ``transform`` (records -> the prepared matrix), ``kernels`` and ``rules``
(centroid, mixture, core-sample assignment), ``bundle`` (reading the serving bundle), ``model``
(one published version), ``registry`` (the per-container cache) and ``results``. Nothing here
imports pandas, scikit-learn, scipy, skops or plotly; ``make lint`` checks it with import-linter.
"""
