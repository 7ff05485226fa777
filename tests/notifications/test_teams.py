"""Teams Workflows: an Adaptive Card inside a `message` envelope; Workflows answer 202."""

from tocsin.notifications.teams import TeamsNotifier
from tocsin.schemas.blocks import validate_block


def test_posts_an_adaptive_card(sink, http):
    sink.expect_request("/workflows/run", method="POST").respond_with_data("", status=202)
    block = validate_block("ms-teams-webhook", {"url": sink.url_for("/workflows/run")})
    result = TeamsNotifier(http=http).send(block, "Pipeline failed", "Flow etl failed", delivery_id="d-7")
    assert result.status_code == 202
    [(request, _)] = sink.log
    assert request.headers["X-Tocsin-Delivery-Id"] == "d-7"
    assert request.get_json() == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "Pipeline failed",
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                        },
                        {"type": "TextBlock", "text": "Flow etl failed", "wrap": True},
                    ],
                },
            }
        ],
    }


def test_wrap_false_is_passed_to_the_card(sink, http):
    sink.expect_request("/w").respond_with_data("", status=202)
    block = validate_block("ms-teams-webhook", {"url": sink.url_for("/w"), "wrap": False})
    TeamsNotifier(http=http).send(block, "", "b", delivery_id="d")
    [text] = sink.log[0][0].get_json()["attachments"][0]["content"]["body"]
    assert text == {"type": "TextBlock", "text": "b", "wrap": False}


def test_faults(sink, http, fault_drill):
    secret = "sig=0123456789abcdefghij"
    block = validate_block("ms-teams-webhook", {"url": sink.url_for("/workflows/run") + "?" + secret})
    fault_drill(
        "/workflows/run",
        lambda: TeamsNotifier(http=http).send(block, "s", "b", delivery_id="d"),
        secret="0123456789abcdefghij",
    )
