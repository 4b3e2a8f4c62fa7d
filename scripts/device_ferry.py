"""Ferry folders larger than one device call's 64 MiB (the ARC checkpoint's 100 MB embedding table, HRM's 53 MB
weights beside the training data) to the device machine in several calls, and check them whole on arrival.

    here:            python3 scripts/device_ferry.py pack trm-att-arc=checkpoints/trm-att-arc \\
                         arc-raw=../shared/data/trm-kaggle-combined [--part-mb 40] [--out runs/ferry]
    device call k:   python3 scripts/device_ferry.py land runs/ferry/K        (carry ["runs/ferry/K"])

`pack` deals the files (whole, largest first) into parts of at most `--part-mb` each, laid out as NAME/relative
path, and writes the same MANIFEST (sha256, size and path of every file) into every part; it prints the calls to
make. Parts are independent: they may land in any order, one per call, and a part landed twice is harmless. `land`
copies one part into FERRY_ROOT (default /tmp/ferry) and says how many of the manifest's files are there; when the
last one arrives it checks every file's size and sha256 and writes FERRY_ROOT/COMPLETE. A machine lost between two
calls loses what landed on it: `land`'s count then starts again, and the parts are landed again.
`scripts/session_chain.sh start CONFIG` takes its warm start from FERRY_ROOT/CONFIG when the tree has no
checkpoints/CONFIG (a checkpoint too large to travel beside the training data). It runs with any python3 that can
import the tree's `redge` package (the device's can).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from redge.tasks.fetch import file_sha256  # noqa: E402  (the tree's own package, also on the device)

MANIFEST = "MANIFEST"


def collect(sources: list[str]) -> list[tuple[Path, str]]:
    """(file, NAME/relative path) for every file under each NAME=PATH source."""
    files = []
    for source in sources:
        name, sep, path = source.partition("=")
        root = Path(path)
        if not sep or not name or "/" in name:
            raise SystemExit(f"{source}: give NAME=PATH (NAME a plain folder name)")
        if not root.is_dir():
            raise SystemExit(f"{root}: not a folder")
        files += [(file, f"{name}/{file.relative_to(root).as_posix()}") for file in sorted(root.rglob("*"))
                  if file.is_file()]
    if not files:
        raise SystemExit("nothing to ferry: the sources hold no files")
    return files


def deal(files: list[tuple[Path, str]], part_bytes: int) -> list[list[tuple[Path, str]]]:
    """First-fit-decreasing: each file into the first part it fits, largest files first."""
    parts: list[list[tuple[Path, str]]] = []
    loads: list[int] = []
    for file, rel in sorted(files, key=lambda item: item[0].stat().st_size, reverse=True):
        size = file.stat().st_size
        if size > part_bytes:
            raise SystemExit(f"{file}: {size / 2**20:.1f} MiB does not fit a part of {part_bytes / 2**20:.1f} MiB")
        index = next((i for i, load in enumerate(loads) if load + size <= part_bytes), len(parts))
        if index == len(parts):
            parts.append([])
            loads.append(0)
        parts[index].append((file, rel))
        loads[index] += size
    return parts


def pack(sources: list[str], out: Path, part_mb: float) -> list[Path]:
    """Write the parts under `out` (replacing what was there), each with the whole manifest; return their folders."""
    files = collect(sources)
    parts = deal(files, int(part_mb * 2**20))
    manifest = "".join(f"{file_sha256(file)}  {file.stat().st_size}  {rel}\n"
                       for file, rel in sorted(files, key=lambda item: item[1]))
    if out.exists():
        shutil.rmtree(out)
    folders = []
    for number, part in enumerate(parts, 1):
        folder = out / str(number)
        for file, rel in part:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, folder / rel)
        (folder / MANIFEST).write_text(manifest)
        folders.append(folder)
    return folders


def read_manifest(path: Path) -> list[tuple[str, int, str]]:
    """(sha256, size, path) rows of a MANIFEST file."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("  ", 2)
        if len(fields) != 3 or not fields[1].isdigit():
            raise SystemExit(f"{path}:{number}: not 'sha256  size  path': {line!r}")
        rows.append((fields[0], int(fields[1]), fields[2]))
    return rows


def land(part: Path, root: Path) -> bool:
    """Copy one part into `root`; check everything once the manifest is complete. True when complete and sound."""
    manifest = part / MANIFEST
    if not manifest.is_file():
        raise SystemExit(f"{part}: no {MANIFEST}: not a part written by `device_ferry.py pack`")
    rows = read_manifest(manifest)
    root.mkdir(parents=True, exist_ok=True)
    if (root / MANIFEST).is_file() and (root / MANIFEST).read_text() != manifest.read_text():
        raise SystemExit(f"{root}: holds another ferry (its {MANIFEST} differs): remove it first")
    for file in sorted(part.rglob("*")):
        if file.is_file() and file.name != MANIFEST:
            target = root / file.relative_to(part)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
    shutil.copy2(manifest, root / MANIFEST)
    present = [row for row in rows if (root / row[2]).is_file()]
    print(f"landed {part}: {len(present)} of {len(rows)} files in {root}")
    if len(present) < len(rows):
        return False
    bad = [path for digest, size, path in rows
           if (root / path).stat().st_size != size or file_sha256(root / path) != digest]
    if bad:
        raise SystemExit(f"{root}: {len(bad)} files differ from the manifest (size or sha256): {', '.join(bad[:5])}")
    (root / "COMPLETE").write_text(f"{len(rows)} files\n")
    print(f"complete: every file's size and sha256 match ({root}/COMPLETE)")
    return True


def main() -> None:
    """Parse the arguments and pack or land."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="split NAME=PATH folders into parts (here)")
    packing.add_argument("sources", nargs="+", metavar="NAME=PATH")
    packing.add_argument("--out", type=Path, default=Path("runs/ferry"))
    packing.add_argument("--part-mb", type=float, default=40.0, help="MiB per part (the tree travels beside it)")
    landing = commands.add_parser("land", help="copy one carried part into FERRY_ROOT (on the device)")
    landing.add_argument("part", type=Path)
    landing.add_argument("--root", type=Path, default=Path("/tmp/ferry"))
    args = parser.parse_args()
    if args.command == "pack":
        folders = pack(args.sources, args.out, args.part_mb)
        for number, folder in enumerate(folders, 1):
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
            print(f"call {number} (carry [\"{folder}\"], {size:.1f} MiB): "
                  f"python3 scripts/device_ferry.py land {folder}")
    else:
        land(args.part, args.root)


if __name__ == "__main__":
    sys.exit(main())
