"""A scripted gateway for poller and job tests (no sockets)."""

from __future__ import annotations

from dataclasses import dataclass

INFO = b"""<?xml version='1.0' encoding='UTF-8'?>
<envoy_info><time>1700000000</time><device><sn>122000000001</sn><pn>800-00654-r08</pn>
<software>D7.6.175</software><imeter>true</imeter></device></envoy_info>"""
PRODUCTION = (
    b'{"production":[{"type":"inverters","activeCount":10,"readingTime":1700000000,'
    b'"wNow":1500,"whLifetime":123456}],"consumption":[],"storage":[]}'
)
METERS = (
    b'[{"eid":704643328,"state":"disabled","measurementType":"production",'
    b'"phaseMode":"split","phaseCount":2,"meteringStatus":"normal","statusFlags":[]}]'
)


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str | None = "application/json"


class FakeGateway:
    """Answers from a table; an exception in the table is raised instead."""

    def __init__(self, table: dict[str, Answer | Exception]) -> None:
        self.table = table
        self.asked: list[str] = []

    def get(self, path: str) -> Answer:
        self.asked.append(path)
        answer = self.table.get(path, Answer(404, b'{"error": "404 - Not Found"}'))
        if isinstance(answer, Exception):
            raise answer
        return answer
