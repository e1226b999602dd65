"""CDK entry point (``cdk.json``: ``python3 -m infra.app``): the app, the stack, cdk-nag."""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import DeploymentConfig
from infra.stack import SegmentsStack

app = App()
config = DeploymentConfig.from_node(app.node)
SegmentsStack(app, config.stack_name, config=config, description="Customer segmentation system")
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
