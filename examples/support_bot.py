"""A small instrumented AI app: a support agent that retrieves docs, calls a tool and a model.

The model call is a local stand-in (so the example runs offline and deterministically): it
returns exactly the shape of an OpenAI chat completion, usage included, which is what
``observe.llm`` reads tokens and the response model from. Swap in a real client and nothing
else changes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from spanlink.tracer import observe

DOCS = {
    "refund": "Refunds are issued to the original payment method within 5 business days.",
    "shipping": "Standard shipping takes 3-5 days; express shipping takes 1-2 days.",
    "warranty": "Every device has a two-year warranty covering manufacturing defects.",
}
ORDERS = {"A-1001": {"status": "shipped", "carrier": "DHL"}, "A-1002": {"status": "processing"}}
SYSTEM_PROMPT = "You are a concise support assistant. Answer from the provided context only."
#: A change of behaviour for the demo's second run: look the order up before searching the
#: docs. The order status then comes first in the context, so the answer no longer states it.
LOOKUP_ORDER_FIRST = False


@observe.retrieval()
def search_docs(query: str, top_k: int = 2) -> list[str]:
    """Rank the knowledge base by shared words with the query."""
    words = set(query.lower().split())
    ranked = sorted(DOCS.items(), key=lambda item: -len(words & set(item[1].lower().split())))
    return [text for topic, text in ranked[:top_k] if topic in query.lower() or words]


@observe.tool(name="lookup_order")
def lookup_order(order_id: str) -> dict[str, Any]:
    """Order status from the order system."""
    if order_id not in ORDERS:
        raise KeyError(f"unknown order {order_id}")
    return ORDERS[order_id]


def _tokens(text: str) -> int:
    return max(1, round(len(text) / 4))


@observe.llm(model="gpt-4o-mini", provider="openai")
def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
    """The model call (a deterministic local stand-in returning an OpenAI-shaped response)."""
    prompt = " ".join(message["content"] for message in messages)
    context = messages[-1]["content"]
    reply = f"Based on our policy: {context.splitlines()[-1]}"
    prompt_tokens = _tokens(prompt) + 200  # plus the tool definitions a real call carries
    cached = 128 if len(messages) > 1 else 0  # the system prompt is served from cache
    return {
        "id": "chatcmpl-" + hashlib.sha1(prompt.encode()).hexdigest()[:12],
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _tokens(reply),
            "total_tokens": prompt_tokens + _tokens(reply),
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


@observe.agent(name="support-bot")
def answer(question: str, order_id: str | None = None) -> str:
    """Answer a customer question, looking up the order when one is given."""
    if order_id is not None and LOOKUP_ORDER_FIRST:
        order = lookup_order(order_id)
        context = [f"Order {order_id} is {order['status']}.", *search_docs(question)]
    else:
        context = search_docs(question)
        if order_id is not None:
            order = lookup_order(order_id)
            context.append(f"Order {order_id} is {order['status']}.")
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": question + "\n" + "\n".join(context)},
    ]
    response = chat(messages)
    return str(response["choices"][0]["message"]["content"])
