"""The MCP prompts: ready-made instructions a client offers its user (a slash command in most).

"investigate_incident" walks an agent through an on-call investigation with the sidecar's tools,
from the symptom to a cause backed by numbers: the path the demo's SRE scenario takes.
"""

from __future__ import annotations

import mcp_types as types

from sidecar.errors import ErrorCode, SidecarError

INVESTIGATE = types.Prompt(
    name="investigate_incident",
    title="Investigate an incident",
    description="Find when a production problem started, what changed, the cause, the impact and "
    "the fix, from the datasets (metrics, logs, deploys, orders, runbooks).",
    arguments=[
        types.PromptArgument(
            name="symptom",
            description="What is wrong, as reported (e.g. 'checkout failing since the afternoon').",
            required=True,
        ),
        types.PromptArgument(
            name="window",
            description="When to look (e.g. '2026-03-14 13:00 to 16:00 UTC'); default: find it.",
            required=False,
        ),
    ],
)

STEPS = """\
Investigate this incident: {symptom}
Time window: {window}

You have read-only SQL over this sidecar's datasets through the tools list_datasets, \
describe_dataset, sample, sql, search and explain. Work like an on-call engineer, and base every \
claim on a query result:

1. Call list_datasets, then describe_dataset on the ones that look relevant (metrics, logs, \
deploys and changes, the business tables, runbooks). Note each one's freshness.
2. When did it start, and how does it show? Count errors or failures per minute (or the error \
rate from the metrics) and find the first minute it departs from normal, and when it ended.
3. What changed just before? Look for deploys, configuration or feature changes shortly before \
the start, and for anything that was rolled back.
4. What do the logs say? Read the first WARN and ERROR lines around the start; count the most \
frequent messages; tie them to the change (version, pod, host).
5. Search the runbooks (search) for the main error message or symptom, and read what they say \
to check and to do.
6. How bad is it? Quantify the impact: failed requests or orders, affected customers, money, \
by segment or region.
7. Rule out the obvious alternatives (a dependency or provider, traffic, one region) with a \
query each.

Answer with: a timeline (UTC), the cause and the evidence (the queries and their numbers), the \
impact, the fix or mitigation with the runbook it comes from, and what is still unknown. Keep \
queries small: aggregate, filter and LIMIT rather than reading whole tables. When a query fails, \
read the error's hint and correct it."""


def investigate(arguments: dict[str, str] | None) -> types.GetPromptResult:
    symptom = (arguments or {}).get("symptom", "").strip()
    if not symptom:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            "investigate_incident needs the symptom argument",
            hint="e.g. symptom: 'checkout failing since the afternoon'",
        )
    window = (arguments or {}).get("window", "").strip() or "unknown: find it from the data"
    text = STEPS.format(symptom=symptom, window=window)
    return types.GetPromptResult(
        description=INVESTIGATE.description,
        messages=[
            types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))
        ],
    )
