"""Every shipped scenario, seeded at once into the live sandbox, really shows its symptoms.

All scenarios run side by side (as in the demo), each in namespace ``sc-<name>``. The test polls until
every broken scenario's symptoms have all held at one moment and every healthy control passes
`check_healthy`; the controls must still be healthy at the end. A scenario must also settle within its
own ``settle_seconds`` (counted from when it was seeded, or from the first poll if seeding the others
took longer, plus one polling round of slack), since whoever diagnoses it waits that long.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

from kubecopilot.errors import KubeCopilotError
from kubecopilot.sandbox._nodecontrol import remove_nodes
from kubecopilot.sandbox._rest import ApiError, RestClient, resource_path
from kubecopilot.sandbox._scenarios import (
    Scenario,
    check_healthy,
    check_symptoms,
    load_scenarios,
    seed,
    summarize,
)

pytestmark = pytest.mark.sandbox

DEADLINE_SECONDS = 240
POLL_SECONDS = 3


def namespace_for(scenario: Scenario) -> str:
    return f"sc-{scenario.name}"[:63]


def _problems(client: RestClient, scenario: Scenario, namespace: str) -> list[str]:
    """What keeps the scenario from being 'settled' right now (empty: settled)."""
    if scenario.healthy:
        return check_healthy(client, namespace)
    return [str(r) for r in check_symptoms(client, scenario, namespace) if not r.ok]


def _seed_order(scenarios: list[Scenario]) -> list[Scenario]:
    # Scenarios with nodes that go NotReady wait inside seed() for their pods to land first; seed them
    # last so every other scenario starts its clock early.
    return sorted(scenarios, key=lambda s: any(n.condition != "Ready" for n in s.nodes))


def _delete_namespaces(client: RestClient, namespaces: list[str]) -> None:
    for ns in namespaces:
        with contextlib.suppress(ApiError):
            client.delete(resource_path("Namespace", name=ns))


@pytest.mark.timeout(900)
def test_every_scenario_shows_its_symptoms(sandbox: Any) -> None:
    client: RestClient = sandbox.client()
    scenarios = load_scenarios()
    pairs = [(s, namespace_for(s)) for s in scenarios]
    namespaces = [ns for _, ns in pairs]
    node_names = [node.name for s, ns in pairs for node in s.render(ns).nodes]

    # Leftovers of an aborted run would carry stale events and restarts: start clean.
    _delete_namespaces(client, namespaces)
    if node_names:
        remove_nodes(client, node_names)

    seeded_at: dict[str, float] = {}
    seed_errors: dict[str, str] = {}
    settled_after: dict[str, float] = {}
    last_problems: dict[str, list[str]] = {}
    try:
        started = time.monotonic()
        for scenario in _seed_order(scenarios):
            try:
                seed(client, scenario, namespace_for(scenario))
            except (KubeCopilotError, ApiError) as e:
                seed_errors[scenario.name] = str(e)
                continue
            seeded_at[scenario.name] = time.monotonic()
        print(f"seeded {len(seeded_at)} scenarios in {time.monotonic() - started:.0f} s")

        polling_started = time.monotonic()
        deadline = started + DEADLINE_SECONDS
        longest_round = 0.0
        while True:
            round_started = time.monotonic()
            pending = 0
            for scenario, ns in pairs:
                if scenario.name in settled_after or scenario.name not in seeded_at:
                    continue
                checked_at = time.monotonic()
                try:
                    problems = _problems(client, scenario, ns)
                except ApiError as e:
                    problems = [f"API error while checking: {e}"]
                if problems:
                    last_problems[scenario.name] = problems
                    pending += 1
                else:
                    clock_start = max(seeded_at[scenario.name], polling_started)
                    settled_after[scenario.name] = checked_at - clock_start
                    last_problems.pop(scenario.name, None)
            longest_round = max(longest_round, time.monotonic() - round_started)
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)

        # Healthy controls must stay healthy, not just pass once.
        for scenario, ns in pairs:
            if scenario.healthy and scenario.name in settled_after:
                problems = check_healthy(client, ns)
                if problems:
                    last_problems[scenario.name] = ["no longer healthy at the end:", *problems]

        table = summarize(client, [(s, ns) for s, ns in pairs if s.name in seeded_at])
        print(table)
        for scenario, _ in pairs:
            if scenario.name in settled_after:
                print(f"  {scenario.name}: settled after {settled_after[scenario.name]:.0f} s")

        failures = []
        slack = longest_round + POLL_SECONDS
        for scenario, ns in pairs:
            what = (
                "healthy control"
                if scenario.expect is None
                else f"expects {scenario.expect.object} -> {scenario.expect.rule}"
            )
            if scenario.name in seed_errors:
                failures.append(
                    f"{scenario.name} ({ns}, {what}): seeding failed: {seed_errors[scenario.name]}"
                )
            elif scenario.name in last_problems:
                state = "did not settle" if scenario.name not in settled_after else "regressed"
                details = "\n".join(f"      {p}" for p in last_problems[scenario.name])
                failures.append(f"{scenario.name} ({ns}, {what}): {state}:\n{details}")
            elif (
                scenario.expect is not None
                and settled_after[scenario.name] > scenario.expect.settle_seconds + slack
            ):
                took, budget = settled_after[scenario.name], scenario.expect.settle_seconds
                failures.append(
                    f"{scenario.name} ({ns}, {what}): symptoms held only after {took:.0f} s, "
                    f"settle_seconds is {budget}"
                )
        assert not failures, (
            f"{len(failures)} of {len(pairs)} scenarios failed:\n" + "\n".join(failures) + "\n\n" + table
        )
    finally:
        _delete_namespaces(client, namespaces)
        if node_names:
            remove_nodes(client, node_names)
