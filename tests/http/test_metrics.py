"""The request series `Metrics.request` keeps render as prometheus-client's own calls would.

`Metrics.request` changes a request series' values itself (metrics.py `_Request`: the counter's
value, the histogram's sum and the bucket found by bisection) rather than through `inc()` and
`observe`; here the same requests go to it and to the library's calls on a registry of their own,
and `/metrics`' text must be the same (but the series' creation times), latencies on and around
every bucket's bound included.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from rules_engine.http.metrics import _BUCKETS, Metrics

_CREATED = re.compile(rb"^[a-z_]+_created[{ ].*$", re.MULTILINE)

_SECONDS = st.one_of(
    st.sampled_from(_BUCKETS),
    st.sampled_from(_BUCKETS).map(lambda bound: bound * (1 + 1e-12)),
    st.floats(min_value=0, max_value=20, allow_nan=False),
)
_REQUESTS = st.lists(
    st.tuples(
        st.sampled_from(["GET", "POST"]),
        st.sampled_from(["/v1/programs/{program}/events", "unmatched"]),
        st.sampled_from([200, 404, 500]),
        _SECONDS,
    ),
    max_size=40,
)


def _text(metrics: Metrics) -> bytes:
    return _CREATED.sub(b"", generate_latest(metrics.registry))


@settings(max_examples=200, deadline=None)
@given(_REQUESTS)
def test_requests_render_as_the_library_counts_them(requests: list[tuple[str, str, int, float]]) -> None:
    ours, theirs = Metrics(), Metrics()
    for method, route, status, seconds in requests:
        ours.request(method, route, status, seconds)
        theirs.requests.labels(method, route, str(status)).inc()
        theirs.latency.labels(method, route, str(status)).observe(seconds)
    assert _text(ours) == _text(theirs)


def test_a_latency_on_a_bound_is_in_that_bucket() -> None:
    metrics = Metrics()
    metrics.request("POST", "r", 200, 0.005)
    text = generate_latest(metrics.registry).decode()
    assert 'le="0.0025",method="POST",route="r",status="200"} 0.0' in text
    assert 'le="0.005",method="POST",route="r",status="200"} 1.0' in text
