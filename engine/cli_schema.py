"""``sous schema infer RECIPE``: bootstrap a schema from the recipe's data.

Parsing, writing and printing only; the inference is :mod:`engine.data.infer`. Prints a
``schema:`` block to paste into the recipe (``--format sous``, the default) or pandera's
YAML for ``schema: {pandera_yaml: PATH}`` (``--format pandera``); ``--out`` writes it
atomically and never replaces a file without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from engine.command import Command
from engine.errors import UserError

HELP = "bootstrap a schema from a recipe's data (sous schema infer RECIPE)"
DESCRIPTION = """bootstrap a schema block from a recipe's data

  sous schema infer churn                      a schema: block to paste into the recipe
  sous schema infer churn --out schema.yaml    written to a file (--force to replace it)
  sous schema infer churn --format pandera --out churn.pandera.yaml
                                               pandera's YAML, for schema: {pandera_yaml: PATH}

Dtypes, nulls, unique columns, min/max of numbers and the values of low-cardinality text
columns, from the rows the schema checks (sources read, PII masked, integrated). Columns that
look like personal data are flagged, and their values never copied. At most --sample-rows
rows are used (a seeded sample; with data.out_of_core, the first partitions only)."""


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "recipe", metavar="RECIPE", nargs="?", help="a recipe name under recipes/ or a .yaml path"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. data.features=[a]"
    )
    p.add_argument("--format", choices=["sous", "pandera"], default="sous", help="what to write")
    p.add_argument("--out", metavar="PATH", help="write to PATH instead of printing")
    p.add_argument("--force", action="store_true", help="with --out: replace an existing file")
    p.add_argument(
        "--sample-rows", type=int, default=None, metavar="N", help="infer from at most N rows"
    )
    p.add_argument("--json", action="store_true", help="print the inferred columns as JSON")


def cmd_schema(args: argparse.Namespace) -> int:
    from engine import api
    from engine.data import infer

    if not args.recipe:
        raise UserError(
            "`sous schema infer` needs a RECIPE: a recipe name under recipes/ or a .yaml path",
            key_path="RECIPE",
            hint="e.g. sous schema infer iris; list the recipes with `sous recipes ls`",
        )
    rows = args.sample_rows if args.sample_rows is not None else infer.SAMPLE_ROWS
    if rows < 1:
        raise UserError(
            f"--sample-rows must be at least 1, not {rows}",
            key_path="--sample-rows",
            hint="e.g. --sample-rows 10000",
        )
    out = Path(args.out).expanduser() if args.out else None
    if out is not None and out.exists() and not args.force:
        raise UserError(f"{out} already exists", key_path="--out", hint="add --force to replace it")
    spec = api.validate(args.recipe, args.overrides)
    frame, sampled = infer.sample_frame(spec, rows)
    schema = infer.infer(frame, sampled=sampled, masked=frozenset(spec.data.pii))
    text = (
        infer.pandera_yaml(schema)
        if args.format == "pandera"
        else infer.sous_yaml(schema, recipe=args.recipe)
    )
    if out is not None:
        _write_atomically(out, text)
    if args.json:
        print(json.dumps({
            "recipe": spec.name, "rows": schema.rows, "sampled": schema.sampled,
            "format": args.format, "out": str(out) if out else None,
            "columns": [c.to_json() for c in schema.columns],
        }, indent=1, default=str))  # fmt: skip
    elif out is None:
        sys.stdout.write(text)
    else:
        flagged = [c.name for c in schema.columns if c.pii]
        note = f"; personal data? {', '.join(flagged)}" if flagged else ""
        print(f"wrote {out} ({args.format}, {len(schema.columns)} columns{note})")
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """A temp file beside ``path``, renamed over it: a reader never sees half a schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


COMMANDS: tuple[Command, ...] = (
    Command(
        "schema",
        help=HELP,
        configure=_args,
        run=cmd_schema,
        actions=("infer",),
        description=DESCRIPTION,
        raw_description=True,
    ),
)
