"""The artifact store: ``base`` (the ``ModelStore`` protocol, verified reads), ``s3`` and ``local``.

The only code in the product that talks to AWS is :mod:`shared.store.s3`.
"""
