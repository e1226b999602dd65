"""Customer segmentation domain package, shared by the training and API Lambdas.

Pure domain code: loading, schema inference, validation, preprocessing, clustering, evaluation,
assignment, profiles, reports. The only module that talks to AWS is :mod:`shared.store`.
"""

__version__ = "0.1.0"
