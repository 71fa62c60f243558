"""Route files: a stack's long lists (`routes`, `grpcRoutes`, `backends`) kept in YAML files of
the repository, named by the stack's `api-gateway:routeFiles` and read by the program itself.

Why: the Pulumi CLI hands a program its whole stack config in one environment variable,
PULUMI_CONFIG, and Linux refuses to start a process with any one environment string over
128 KiB (MAX_ARG_STRLEN): `fork/exec .../python3: argument list too long`
(pulumi/pulumi#8680, #20402). About 250 routes fit; a 1,000-route config is ~487 KB. Config
read from files by the program never passes through that variable.

`routeFiles` is a list of paths or glob patterns (`*`, `?`, `[...]`, `**`) relative to the
project directory (the one holding Pulumi.yaml and __main__.py), resolved from this
repository, never from the current directory, so the engine's generated workspace reads the
same files. A pattern's matches are read in sorted order; a file matched again by a later
pattern is read once, at its first place. Each file is a YAML mapping holding any of the
three lists, with the stack file's schema; its entries are appended after the stack file's
own, file by file. Everything is then validated once, as one config (cross-references and
list limits apply to the merged lists), and a problem in an entry from a file names that
file and the entry's index within it.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from gateway_config.problems import Problem
from gateway_config.yaml_files import YamlSyntaxError, load_yaml

# The directory holding Pulumi.yaml and __main__.py: the parent of this package.
PROJECT_DIRECTORY = Path(__file__).resolve().parent.parent
ROUTE_FILES_KEY = "routeFiles"
# The stack file's list keys a route file may hold, in the order their entries are merged.
MERGED_KEYS = ("routes", "grpcRoutes", "backends")
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class FileProblem(Problem):
    """A problem in a file other than the stack file: `ConfigError` names `file` on its line."""

    file: str


@dataclass(frozen=True)
class _Segment:
    """`count` entries of list `key`, from `file`, at merged indices `start`.. of that list."""

    key: str
    file: str
    start: int
    count: int


@dataclass
class MergedConfig:
    """The stack's raw config with its route files' entries appended, and what went wrong reading them."""

    raw: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    segments: list[_Segment] = field(default_factory=list)

    def locate(self, problem: Problem) -> Problem:
        """`problem` (its path indexing the merged lists) as the person who wrote the entry sees it:
        for an entry from a route file, a `FileProblem` naming that file and the index within it."""
        key, _, rest = problem.path.partition(".")
        index_text, _, tail = rest.partition(".")
        segments = [segment for segment in self.segments if segment.key == key]
        if not segments:
            return problem
        if not index_text.isdigit():
            # A rule about the whole list (e.g. its length): the files' entries count too.
            return Problem(problem.path, f"{problem.message} (counting the entries from {ROUTE_FILES_KEY})")
        index = int(index_text)
        for segment in segments:
            if segment.start <= index < segment.start + segment.count:
                path = ".".join(part for part in (key, str(index - segment.start), tail) if part)
                return FileProblem(path, problem.message, file=segment.file)
        return problem


def merge_route_files(raw: Mapping[str, Any], project_directory: Path | None = None) -> MergedConfig:
    """`raw` with the entries of the files its `routeFiles` names appended (see the module docstring).

    `project_directory` defaults to `PROJECT_DIRECTORY`. A `routeFiles` that is not a list of
    strings is left as it is, for the model's validation to report. Every problem (a pattern
    matching nothing, a missing file, a path outside the project, a file that is not YAML or
    holds anything but the three lists) is collected; the files that could be read are merged."""
    merged = MergedConfig(raw=dict(raw))
    patterns = raw.get(ROUTE_FILES_KEY)
    if not isinstance(patterns, list) or not all(isinstance(pattern, str) for pattern in patterns):
        return merged
    project = (project_directory or PROJECT_DIRECTORY).resolve()
    # None: the stack file's own value is not a list; the model reports it, and no entry is added.
    lists = {key: list(raw.get(key, [])) if isinstance(raw.get(key, []), list) else None for key in MERGED_KEYS}
    read: set[Path] = set()
    for pattern_index, pattern in enumerate(patterns):
        files, problem = _files_of(pattern, project)
        if problem is not None:
            merged.problems.append(Problem(f"{ROUTE_FILES_KEY}.{pattern_index}", problem))
            continue
        for file in files:
            if file in read:
                continue
            read.add(file)
            display = file.relative_to(project).as_posix()
            entries, problems = _read_route_file(file, display)
            merged.problems += problems
            for key, items in entries.items():
                if lists[key] is None:
                    continue
                merged.segments.append(_Segment(key, display, len(lists[key]), len(items)))
                lists[key].extend(items)
    for key, items in lists.items():
        if items is not None and (items or key in raw):
            merged.raw[key] = items
    return merged


def _files_of(pattern: str, project: Path) -> tuple[list[Path], str | None]:
    """The files `pattern` names inside `project` (sorted), or why it names none."""
    if PurePosixPath(pattern).is_absolute():
        return [], f"'{pattern}' is an absolute path; give it relative to the project directory (the one holding Pulumi.yaml)"
    normalised = os.path.normpath(pattern)
    outside = (
        f"'{pattern}' is outside the project directory; route files must be in the repository, "
        "given relative to the directory holding Pulumi.yaml"
    )
    if normalised == ".." or normalised.startswith("../"):
        return [], outside
    if _GLOB_CHARACTERS.isdisjoint(pattern):
        path = project / normalised
        if path.is_dir():
            return [], f"'{pattern}' is a directory; name its files, e.g. '{normalised.rstrip('/')}/*.yaml'"
        if not path.is_file():
            return [], f"'{pattern}': no such file (paths are relative to the directory holding Pulumi.yaml)"
        matches = [path]
    else:
        matches = [path for path in project.glob(normalised) if path.is_file()]
        if not matches:
            return [], f"'{pattern}' matches no file (patterns are relative to the directory holding Pulumi.yaml)"
    resolved = []
    for path in matches:
        # A symbolic link may lead out of the project even when the pattern does not.
        real = path.resolve()
        if not real.is_relative_to(project):
            return [], outside
        resolved.append(real)
    return sorted(resolved, key=lambda path: path.relative_to(project).as_posix()), None


def _read_route_file(path: Path, display: str) -> tuple[dict[str, list[Any]], list[Problem]]:
    """The lists in one route file and the problems that keep any of them out."""
    allowed = ", ".join(MERGED_KEYS)
    try:
        document, duplicates = load_yaml(path)
    except YamlSyntaxError as error:
        return {}, [FileProblem(error.problem.path, error.problem.message, file=display)]
    problems: list[Problem] = [FileProblem(problem.path, problem.message, file=display) for problem in duplicates]
    if not isinstance(document, dict):
        what = "is empty" if document is None else f"is a {type(document).__name__}"
        problems.append(FileProblem("(file)", f"{what}; a route file is a mapping holding any of the lists {allowed}", file=display))
        return {}, problems
    entries: dict[str, list[Any]] = {}
    for key, value in document.items():
        if key not in MERGED_KEYS:
            suggestion = difflib.get_close_matches(str(key), MERGED_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean '{suggestion[0]}'? " if suggestion else ""
            problems.append(FileProblem(str(key), f"unknown key '{key}'; {hint}a route file holds only {allowed}", file=display))
        elif not isinstance(value, list):
            problems.append(FileProblem(
                key, f"is a {type(value).__name__}; a list is required (entries as under api-gateway:{key} in a stack file)", file=display))
        else:
            entries[key] = value
    if problems:
        return {}, problems
    return entries, problems
