"""The paging query parameters every list route takes (``?page=1&limit=10``), one rule for all."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from browser_tasks.models.task_view import MAX_PAGE_SIZE

PageNumber = Annotated[int, Query(ge=1)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
