"""The AWS CDK app of the customer-segmentation system (see ``infra/app.py``)."""
