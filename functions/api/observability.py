"""The API function's Powertools logger, metrics and tracer, shared by app and routes."""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()

# Most routes are reads that publish no metric; Powertools would warn on every such call.
warnings.filterwarnings("ignore", message="No application metrics to publish")
