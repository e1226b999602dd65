"""One construct per component: storage, training, workflow, api, monitoring."""

from infra.constructs.api import SegmentsApi
from infra.constructs.monitoring import Monitoring
from infra.constructs.storage import Storage
from infra.constructs.training import Training
from infra.constructs.workflow import TrainingWorkflow

__all__ = ["Monitoring", "SegmentsApi", "Storage", "Training", "TrainingWorkflow"]
