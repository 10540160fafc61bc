"""Write the generated docs: the recipe reference page and the recipe's JSON Schema.

    python scripts/gen_docs.py           # rewrite docs/reference.md and docs/recipe.schema.json
    python scripts/gen_docs.py --check   # exit 1 when a committed file is out of date

Both come from engine/specs.py (through engine.recipe.schema); tests/unit/docs checks that the
committed files equal what this writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.recipe.reference import render
from engine.recipe.schema import recipe_schema

DOCS = Path(__file__).resolve().parents[1] / "docs"


def generated() -> dict[Path, str]:
    """Each generated file and its content."""
    schema = recipe_schema()
    return {
        DOCS / "recipe.schema.json": json.dumps(schema, indent=2) + "\n",
        DOCS / "reference.md": render(schema),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "written"
        print(f"{path.relative_to(DOCS.parent)}: {verb}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
