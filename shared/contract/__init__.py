"""The contracts: the pydantic documents a version publishes and the storage layout.

Standard library and pydantic only, so every runtime (training, API, CLI) can read them:
``config`` (the dataset config), ``manifest``, ``profiles``, ``evaluation``, ``plots`` (the JSON
documents of a version) and ``layout`` (every storage key and artifact name, once).
"""
