"""Long AND/OR and UNION chains, regrouped as balanced trees before anything plans them.

sqlglot reads `a OR b OR c ...` and `q1 UNION ALL q2 UNION ALL ...` as left-deep trees, one
level per operator. DataFusion plans such a tree in time that grows with the square of its
depth (2,000 ORs: 10 s), and so does sqlglot's scope analysis of a UNION chain; deep enough, the
recursion overflows DataFusion's stack. The same chain regrouped pairwise is as wide but only
log2 as deep, and plans in linear time.

Regrouping is exact: AND, OR and UNION [ALL] are associative and the operands keep their order.
Only links of one kind regroup (a UNION next to a UNION ALL does not associate), and a UNION
with its own ORDER BY, LIMIT or WITH ends a chain. In the tree, regrouped AND/OR links stay
bare (sqlglot's `flatten` still sees one chain, so pushdown decisions do not change) and the
text DataFusion parses spells their grouping out (`dialect.py`); regrouped UNION operands are
subqueries, so their grouping is explicit in both.
"""

from __future__ import annotations

from sqlglot import exp

CHAINS: tuple[type[exp.Expression], ...] = (exp.And, exp.Or, exp.Union)
_UNION_MODIFIERS = ("order", "limit", "offset", "with_")
_UNION_KIND = ("distinct", "by_name", "side", "kind", "on")


def is_root(node: exp.Expression) -> bool:
    """Whether `node` starts a chain (it is a link whose parent is not of the same chain)."""
    return isinstance(node, CHAINS) and not _continues(node.parent, node)


def operands(root: exp.Expression) -> list[exp.Expression]:
    """The operands of the chain starting at `root`, left to right."""
    found: list[exp.Expression] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node is root or _continues(node.parent, node):
            stack.append(node.args["expression"])
            stack.append(node.this)
        else:
            found.append(node)
    return found


def balance(statement: exp.Expression) -> exp.Expression:
    """`statement` with every chain of more than two operands regrouped pairwise (in place)."""
    roots = [node for node in statement.walk() if is_root(node) and len(operands(node)) > 2]
    for root in roots:
        regrouped = _regroup(root, operands(root))
        if root is statement:
            statement = regrouped
        else:
            root.replace(regrouped)
    return statement


def _regroup(root: exp.Expression, items: list[exp.Expression]) -> exp.Expression:
    """Pairs neighbours level by level (no recursion, however long the chain)."""
    union = isinstance(root, exp.Union)
    kind = {key: root.args.get(key) for key in _UNION_KIND} if union else {}
    level = [item.pop() for item in items]
    while len(level) > 1:
        pairs: list[exp.Expression] = []
        for left, right in zip(level[::2], level[1::2], strict=False):
            if union:
                pairs.append(exp.Union(this=_operand(left), expression=_operand(right), **kind))
            else:
                pairs.append(type(root)(this=left, expression=right))
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    top = level[0]
    for key in _UNION_MODIFIERS if union else ():
        if root.args.get(key) is not None:
            top.set(key, root.args[key].pop())
    return top


def _operand(node: exp.Expression) -> exp.Expression:
    return exp.Subquery(this=node) if isinstance(node, exp.Union) else node


def _continues(parent: exp.Expression | None, node: exp.Expression) -> bool:
    if parent is None or type(parent) is not type(node):
        return False
    if not isinstance(node, exp.Union):
        return True
    same_kind = all(parent.args.get(k) == node.args.get(k) for k in _UNION_KIND)
    plain = not any(node.args.get(key) for key in _UNION_MODIFIERS)
    return same_kind and plain and parent.this is node
