"""`python -m glue_helpers kit`: build the offline kit (tiny model + synthetic GLUE) and print where it is."""

from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    """Build (or rebuild with --force) the kit and print its model and data folders."""
    from ..offline_kit import default_kit_root, ensure_kit, remove_kit

    root = Path(args.dir).expanduser() if args.dir else default_kit_root()
    if args.force:
        remove_kit(root)
    kit = ensure_kit(root)
    print(f"model_checkpoint: {kit.model_dir}\ndata_dir:         {kit.data_dir}")
    return 0


def register(sub) -> None:
    """Add the `kit` sub-command."""
    p = sub.add_parser("kit", help="build the offline kit: a tiny model and synthetic data for every GLUE config")
    p.add_argument("--dir", help="where to build it (default: $GLUE_HELPERS_KIT or ~/.cache/glue_helpers/kit-VERSION)")
    p.add_argument("--force", action="store_true", help="rebuild the kit in --dir (only a folder that is a kit)")
    p.set_defaults(func=run)
