"""Pictures of the computational graph: Graphviz DOT, Mermaid, and a terminal tree.

Each renderer reads a ``chaincli.explain.graph.Graph`` and nothing else. DOT and
Mermaid are returned as text holding the whole graph, edges pointing from an
input to the operation that uses it. The terminal tree hangs the arguments
under the output; a shared node is drawn once, and every later use of it is a
one-line back-reference, so the tree has no more lines than the graph has
edges. It is bounded in lines and depth for big graphs (the other formats
carry everything), and it is built and drawn without recursion.

Numbers are shown to 5 significant digits; JSON carries them in full.
"""

from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from ..explain.graph import Graph, GraphNode
from .table import Glyphs, glyphs_for, make_console
from ..base.numbers import short_number
from ..base.terminal import printable

# The tree stops after this many lines or this deep; the rest is counted.
MAX_TREE_LINES = 200
MAX_TREE_DEPTH = 30


def node_title(node: GraphNode) -> str:
    """``v2: *``, or just ``x`` when the name says what the node is."""
    return node.id if node.id == node.label else f"{node.id}: {node.label}"


def _numbers(node: GraphNode) -> tuple[str, str]:
    """The node's value and adjoint as the pictures show them: a scalar to 5
    digits; an array by its norm (and its entries, when there are few)."""
    if node.shape is None:
        return short_number(node.value), short_number(node.adjoint)
    from ..explain.backward import summarize
    from .backward import adjoint_text
    value = adjoint_text(summarize(node.value)).replace("\n", " ")
    if node.adjoint is None:
        return value, "none"  # no variable leads here
    adjoint = summarize(node.adjoint)
    return value, (short_number(adjoint.first[0]) if not adjoint.shape
                   else f"norm {short_number(adjoint.norm)}")


def _node_lines(node: GraphNode) -> list[str]:
    lines = [node_title(node)]
    if node.shape is not None:
        lines.append(f"shape {tuple(node.shape)}")
    if node.value is not None:
        value, adjoint = _numbers(node)
        lines.append(f"value {value}")
        lines.append(f"adjoint {adjoint}")
    return lines


# ----- Graphviz -----

def _dot_string(text: str) -> str:
    # A DOT quoted string: backslash and quote escaped, no raw line breaks.
    flat = " ".join(text.split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    """The graph as a Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    out = ["digraph chaincli {",
           "  rankdir=LR;",
           '  node [shape=box, fontname="monospace"];',
           '  edge [fontname="monospace", fontsize=10];']
    for node in graph.nodes:
        # Each line is escaped on its own; "\n" between them is DOT's line break.
        label = "\\n".join(_dot_string(line)[1:-1] for line in _node_lines(node))
        extra = ", peripheries=2" if node.index == graph.output else ""
        extra += ", shape=ellipse" if node.op == "var" else ""
        out.append(f'  {_dot_string(node.id)} [label="{label}"{extra}];')
    for edge in graph.edges:
        source = _dot_string(graph.node(edge.source).id)
        target = _dot_string(graph.node(edge.target).id)
        label = f' [label="{short_number(edge.partial)}"]' if edge.partial is not None else ""
        out.append(f"  {source} -> {target}{label};")
    out.append("}")
    return "\n".join(out) + "\n"


# ----- Mermaid -----

def _mermaid_string(text: str) -> str:
    # Inside a quoted Mermaid label, quotes and angle brackets are entities.
    flat = " ".join(text.split())
    return (flat.replace("#", "#35;").replace('"', "#quot;")
            .replace("<", "#lt;").replace(">", "#gt;"))


def to_mermaid(graph: Graph) -> str:
    """The graph as a Mermaid ``flowchart`` (paste it into a ```mermaid block)."""
    out = ["flowchart LR"]
    # Mermaid ids are n<tape index>: a user's name could be a Mermaid keyword.
    for node in graph.nodes:
        label = "<br/>".join(_mermaid_string(line) for line in _node_lines(node))
        shape = ('(["', '"])') if node.op == "var" else ('["', '"]')
        out.append(f"  n{node.index}{shape[0]}{label}{shape[1]}")
    for edge in graph.edges:
        label = (f'|"{_mermaid_string(short_number(edge.partial))}"|'
                 if edge.partial is not None else "")
        out.append(f"  n{edge.source} -->{label} n{edge.target}")
    out.append("  classDef output stroke-width:3px")
    out.append(f"  class n{graph.output} output")
    return "\n".join(out) + "\n"


# ----- Terminal tree -----

def _tree_label(node: GraphNode, user: GraphNode | None,
                partial: float | None, glyphs: Glyphs) -> Text:
    text = Text(printable(node_title(node)), style="bold")
    if node.shape is not None:
        text.append(f"  {tuple(node.shape)}")
    if node.value is not None:
        value, adjoint = _numbers(node)
        text.append(f"  value {value}")
        text.append(f"  adjoint {adjoint}", style="cyan")
    if user is not None and partial is not None:
        d = glyphs.partial
        text.append(f"  ({d}{printable(user.id)}/{d}{printable(node.id)} = "
                    f"{short_number(partial)})", style="dim")
    return text


def graph_tree(graph: Graph, glyphs: Glyphs, max_lines: int = MAX_TREE_LINES,
               max_depth: int = MAX_TREE_DEPTH) -> tuple[Tree, int]:
    """The tree under the output, and how many nodes it leaves out."""
    root_node = graph.node(graph.output)
    root = Tree(_tree_label(root_node, None, None, glyphs))
    drawn = {graph.output}
    cut: set[int] = set()   # drawn without their arguments
    lines = 1
    # Pre-order on an explicit stack: (parent tree, edge into the parent's node, depth).
    stack = [(root, edge, 1) for edge in reversed(graph.arguments(graph.output))]
    while stack and lines < max_lines:
        parent, edge, depth = stack.pop()
        node = graph.node(edge.source)
        user = graph.node(edge.target)
        lines += 1
        if edge.source in drawn:
            label = Text(f"{glyphs.arrow} {printable(node.id)}", style="dim")
            label.append(" (drawn above)", style="dim")
            parent.add(label)
            continue
        if depth >= max_depth and graph.arguments(edge.source):
            label = _tree_label(node, user, edge.partial, glyphs)
            label.append(f"  {glyphs.ellipsis} deeper levels not shown", style="dim")
            parent.add(label)
            cut.add(edge.source)
            continue
        drawn.add(edge.source)
        branch = parent.add(_tree_label(node, user, edge.partial, glyphs))
        stack.extend((branch, child, depth + 1)
                     for child in reversed(graph.arguments(edge.source)))
    return root, len(graph.nodes) - len(drawn | cut)


def print_graph_tree(graph: Graph) -> None:
    console = make_console()
    glyphs = glyphs_for(console)
    tree, hidden = graph_tree(graph, glyphs)
    console.print(tree)
    if hidden:
        console.print(Text(f"{hidden:,} of {len(graph.nodes):,} nodes not shown; "
                           "--format dot, mermaid or json give the whole graph.",
                           style="dim"))
