"""The ``transport`` fixture of the serving client tests: a stubbed ``urllib.request.urlopen``."""

from __future__ import annotations

import io
import json

import pytest
from serving_testing import sc


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def transport(monkeypatch):
    """``(calls, replies)``: every request is recorded in ``calls``; ``replies`` are popped in order.

    A reply is a JSON value, an exception to raise, or a callable ``(call) ->
    reply`` (e.g. ``tf_serving_standins.rest_server``), which is kept and answers every
    later request.
    """
    calls = []
    replies = []

    def urlopen(request, timeout=None):
        body = json.loads(request.data) if request.data else None
        call = {"url": request.full_url, "method": request.get_method(), "body": body, "timeout": timeout}
        calls.append(call)
        reply = replies[0] if callable(replies[0]) else replies.pop(0)
        if callable(reply):
            reply = reply(call)
        if isinstance(reply, Exception):
            raise reply
        return _Response(json.dumps(reply).encode())

    monkeypatch.setattr(sc.urllib.request, "urlopen", urlopen)
    return calls, replies
