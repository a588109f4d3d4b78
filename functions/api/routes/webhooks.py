"""``/webhook``: the owner's endpoint for task status changes (our extension; v1 registered
webhooks in its dashboard). Deliveries are signed with the secret ``PUT`` answers, once."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from api_docs import route_answers
from browser_tasks.models.webhooks import WebhookRegistration
from browser_tasks.services import webhook_service
from routes.auth import current_owner

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools


@router.put("/webhook")
def register_webhook(request: Annotated[WebhookRegistration, Body()]) -> dict[str, str]:
    """Set the webhook URL; answers it with a new signing secret, which is not shown again."""
    registered = webhook_service().register(current_owner(router), request.url)
    return {"url": registered.url, "secret": registered.secret}


@router.get("/webhook", responses=route_answers({404: "No webhook is registered"}))
def get_webhook() -> dict[str, str]:
    """The registered URL (never the secret); 404 if there is none."""
    return {"url": webhook_service().url(current_owner(router))}


@router.delete("/webhook")
def delete_webhook() -> dict[str, str]:
    """Stop deliveries; events already queued find no webhook and are dropped."""
    webhook_service().delete(current_owner(router))
    return {}


@router.post("/webhook/test", responses=route_answers({404: "No webhook is registered"}))
def test_webhook() -> dict[str, str]:
    """Queue one signed ``test`` delivery to the registered URL; 404 if there is none."""
    webhook_service().request_test(current_owner(router))
    return {}
