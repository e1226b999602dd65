"""One construct per component: storage, training, api, monitoring."""

from infra.constructs.api import SegmentsApi
from infra.constructs.monitoring import Monitoring
from infra.constructs.storage import Storage
from infra.constructs.training import Training

__all__ = ["Monitoring", "SegmentsApi", "Storage", "Training"]
