"""``aidmp rules bought-together ITEM...``."""

from __future__ import annotations

from typing import Annotated

import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import emit_json, table

app = typer.Typer(help="Association rules: what is bought together.", no_args_is_help=True)


@app.command("bought-together")
def bought_together(
    items: Annotated[list[str], typer.Argument(help="The basket's items.")],
    home: HomeOption = None, json: JsonOption = False,
    model: Annotated[str, typer.Option(help="Rules model name.")] = "rules",
    n: Annotated[int, typer.Option("-n", "--n", min=1, max=100, help="At most this many.")]
    = 10,
) -> None:
    """Items to suggest beside ITEMS, with the rule behind each."""
    rows = call(home, "rules_bought_together_v1_rules_get",
                {"items": ",".join(items), "n": n, "model": model},
                local=lambda dmp: dmp.models.bought_together(items, n=n, name=model))
    if json:
        emit_json(rows)
        return
    table(f"bought together with {', '.join(items)}",
          ["item", "because", "confidence", "lift", "support"],
          [(r["name"] or r["item"], ", ".join(r["because"]) or "(popular)",
            f"{r['confidence']:.2f}", f"{r['lift']:.2f}", f"{r['support']:.4f}")
           for r in rows])
