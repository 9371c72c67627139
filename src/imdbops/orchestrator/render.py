"""Pictures of a DAG: plain text for the terminal, Mermaid (``.mmd``) and Graphviz (``.dot``)."""

from __future__ import annotations

from collections.abc import Mapping

from imdbops.orchestrator.cache import flatten
from imdbops.orchestrator.dag import DAG

STATE_COLORS = {
    "succeeded": "#b7e4c7",
    "skipped": "#dee2e6",
    "failed": "#f4a6a6",
    "upstream_failed": "#f8d7a8",
    "running": "#a9d6f5",
}


def to_text(dag: DAG, states: Mapping[str, str] | None = None) -> str:
    """One line per task in run order: inputs, outputs, upstream tasks, params keys."""
    states = states or {}
    lines = [f"DAG {dag.name} ({len(dag.tasks)} tasks)"]
    for i, name in enumerate(dag.topological_order(), 1):
        t = dag.tasks[name]
        ups = sorted(dag.upstream(name))
        state = f" [{states[name]}]" if name in states else ""
        lines.append(f"{i:>2}. {name}{state}")
        if ups:
            lines.append(f"      after:   {', '.join(ups)}")
        if t.inputs:
            lines.append(f"      inputs:  {', '.join(t.inputs)}")
        if t.outputs:
            lines.append(f"      outputs: {', '.join(t.outputs)}")
        if t.params:
            lines.append(f"      params:  {', '.join(sorted(flatten(t.params)))}")
    return "\n".join(lines)


def _edge_labels(dag: DAG) -> dict[tuple[str, str], str]:
    labels: dict[tuple[str, str], str] = {}
    for name, t in dag.tasks.items():
        for inp in t.inputs:
            producer = dag.producer.get(inp)
            if producer:
                key = (producer, name)
                labels[key] = f"{labels[key]}, {inp}" if key in labels else inp
    return labels


def to_mermaid(dag: DAG, states: Mapping[str, str] | None = None) -> str:
    states = states or {}
    labels = _edge_labels(dag)
    lines = ["flowchart TD"]
    for name in dag.topological_order():
        lines.append(f'    {name}["{name}"]')
    for up, down in dag.edges():
        label = labels.get((up, down))
        arrow = f"-->|{label}|" if label else "-.->"
        lines.append(f"    {up} {arrow} {down}")
    for name, state in states.items():
        if state in STATE_COLORS and name in dag.tasks:
            lines.append(f"    style {name} fill:{STATE_COLORS[state]}")
    return "\n".join(lines) + "\n"


def to_dot(dag: DAG, states: Mapping[str, str] | None = None) -> str:
    states = states or {}
    labels = _edge_labels(dag)
    lines = [
        f'digraph "{dag.name}" {{',
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
    ]
    for name in dag.topological_order():
        color = STATE_COLORS.get(states.get(name, ""), "#ffffff")
        lines.append(f'  "{name}" [fillcolor="{color}"];')
    for up, down in dag.edges():
        label = labels.get((up, down))
        attrs = f' [label="{label}"]' if label else " [style=dashed]"
        lines.append(f'  "{up}" -> "{down}"{attrs};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def explain_lines(tasks: Mapping[str, Mapping], order: list[str] | None = None) -> list[str]:
    """Per task: ran / skipped / failed, and why (from a manifest's ``tasks``)."""
    lines = []
    for name in order or list(tasks):
        info = tasks.get(name)
        if not info:
            continue
        decision = info.get("decision") or info.get("state", "pending")
        reasons = "; ".join(info.get("reasons") or []) or "-"
        if info.get("error"):
            reasons = f"{reasons}; error: {info['error']}" if reasons != "-" else info["error"]
        lines.append(f"{name:<20} {decision:<16} {reasons}")
    return lines
