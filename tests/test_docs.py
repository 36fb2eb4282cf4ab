"""Docs that check themselves: every shell and Python block in README.md and docs/*.md runs.

Each fenced ```bash / ```sh / ```python block is one test (id ``FILE:LINE``). A block runs as
written unless an HTML comment on the line right before its fence tags it:

``<!-- doc-test: setup -->``
    the README's set-up commands: nothing is reinstalled; each ``&&`` piece is checked instead
    (``pip install -e ".[extra]"``: the extra exists in setup.py; ``bash FILE``: the script exists
    and parses; a console script: it resolves and runs; ``pytest``: a reduced run).
``<!-- doc-test: output -->``
    shown output or a record that is not meant to be run; only checked to be non-empty.
``<!-- doc-test: synopsis -->``
    usage lines with placeholders: each command is run with ``--help`` and every ``--flag`` the
    block shows must be listed there.
``<!-- doc-test: reduced: PAYLOAD -->`` (``network`` / ``hours`` may precede ``reduced`` to say why)
    the block needs the internet or hours, so a reduced form runs. PAYLOAD is either sed-like rules,
    one per line (``s|OLD|NEW|``, applied to the block text, which then runs in its own language),
    or a bash script, which finds the original block in the file ``$DOC_BLOCK``.

Blocks run in document order in one shared temp folder (symlinks to the repo's top-level folders,
so ``recipes/`` or ``tools/`` resolve and nothing is written into the repo), offline, with a temp
``PADDLE_ELECTRA_HOME``, ``OMP_NUM_THREADS=2`` and the test's Python first on ``PATH`` (so
``paddle-electra`` resolves).
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOC_FILES = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
RUN_LANGS = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "py": "python"}
KINDS = {"setup", "output", "synopsis", "reduced", "network", "hours"}
BLOCK_TIMEOUT = 180  # seconds; a reduced block takes well under a minute
FENCE_RE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
TAG_OPEN = "<!-- doc-test:"
_DONE = pytest.StashKey[set]()  # ids of the blocks already run in the shared folder
SED_RE = re.compile(r"^s(?P<d>[|/#])(?P<old>.*?)(?P=d)(?P<new>.*?)(?P=d)$")


@dataclass
class Block:
    """One fenced block of a document and its tag."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    kinds: set = field(default_factory=set)
    payload: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def _parse_tag(lines: list[str], fence_idx: int, path: Path) -> tuple[set, str]:
    """The doc-test tag ending on the line right before the fence, as (kinds, payload)."""
    end = fence_idx - 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return set(), ""
    start = end
    while start >= 0 and TAG_OPEN not in lines[start]:
        if start < end and "-->" in lines[start]:
            return set(), ""  # an unrelated comment ends here
        start -= 1
    if start < 0:
        return set(), ""
    body = "\n".join(lines[start:end + 1]).strip()
    body = body[body.index(TAG_OPEN) + len(TAG_OPEN):-len("-->")]
    head, _, payload = body.partition(":")
    kinds = set(head.split())
    if not kinds or not kinds <= KINDS:
        raise ValueError(f"{path.name}:{start + 1}: unknown doc-test tag {head.strip()!r} (known: {sorted(KINDS)})")
    if kinds & {"network", "hours"} and "reduced" not in kinds:
        raise ValueError(f"{path.name}:{start + 1}: a network/hours block needs a 'reduced:' form to run")
    if ("reduced" in kinds) != bool(payload.strip()):
        raise ValueError(f"{path.name}:{start + 1}: 'reduced' and a payload go together")
    return kinds, payload.strip("\n").rstrip()


def collect_blocks(path: Path) -> list[Block]:
    """Every fenced block of `path` (all languages; only shell and Python ones are tests)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, body, j = len(m.group("indent")), [], i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        kinds, payload = _parse_tag(lines, i, path)
        blocks.append(Block(path, i + 1, m.group("lang").lower(), "\n".join(body) + "\n", kinds, payload))
        i = j + 1
    return blocks


ALL_BLOCKS = [b for p in DOC_FILES for b in collect_blocks(p)]
RUN_BLOCKS = [b for b in ALL_BLOCKS if b.lang in RUN_LANGS]


# --------------------------------------------------------------------------- environment


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The shared working folder: symlinks to the repo's top-level entries, plus a temp cache."""
    root = tmp_path_factory.mktemp("docs")
    for entry in REPO.iterdir():
        if entry.name.startswith(".") and entry.name not in (".venv-paddlenlp",):
            continue
        (root / entry.name).symlink_to(entry)
    (root / "_home").mkdir()
    return root


def _env(workdir: Path, block: Block | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        PADDLE_ELECTRA_OFFLINE="1", HF_HUB_OFFLINE="1", PADDLE_ELECTRA_HOME=str(workdir / "_home"),
        PADDLE_ELECTRA_DISABLE_PROGRESS_BARS="1", OMP_NUM_THREADS="2", PYTHONDONTWRITEBYTECODE="1",
        HUB_HOME=str(workdir / "_home" / "paddlehub"), MPLBACKEND="Agg",
    )
    env.pop("VIRTUAL_ENV", None)
    if block is not None:
        env["DOC_BLOCK"] = str(workdir / "_block.txt")
    return env


def _run(cmd: list[str], workdir: Path, block: Block, timeout: int = BLOCK_TIMEOUT) -> str:
    """Run `cmd` in the shared folder; fail the test with the block id and the output tail."""
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=_env(workdir, block), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{block.id}: no result within {timeout} s\n{(err.stdout or '')[-3000:]}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{block.id}: exit status {proc.returncode}\n--- output (tail)\n{out[-4000:]}"
    return out


def _run_script(lang: str, text: str, workdir: Path, block: Block) -> str:
    script = workdir / ("_block.py" if lang == "python" else "_block.sh")
    script.write_text(text, encoding="utf-8")
    if lang == "python":
        return _run([sys.executable, str(script)], workdir, block)
    return _run(["bash", "-e", "-o", "pipefail", str(script)], workdir, block)


def _apply_rules(payload: str, text: str) -> str | None:
    """Apply sed-like ``s|OLD|NEW|`` lines to `text`; None when the payload is not only such rules."""
    rules = [SED_RE.match(line.strip()) for line in payload.splitlines() if line.strip()]
    if not rules or not all(rules):
        return None
    for rule in rules:
        if rule.group("old") not in text:
            raise AssertionError(f"rule s{rule.group('d')}{rule.group('old')}... matches nothing in the block")
        text = text.replace(rule.group("old"), rule.group("new"))
    return text


# --------------------------------------------------------------------------- the kinds


def _check_setup(block: Block, workdir: Path) -> None:
    """Check each ``&&`` piece of a set-up command without reinstalling anything."""
    setup_py = (REPO / "setup.py").read_text(encoding="utf-8")
    extras_node = next(kw.value for node in ast.walk(ast.parse(setup_py)) if isinstance(node, ast.Call)
                       for kw in node.keywords if kw.arg == "extras_require")
    extras = {k.value for k in extras_node.keys}
    command = " ".join(line.rstrip("\\") for line in block.text.splitlines())
    for piece in (p.strip() for p in command.split("&&")):
        words = shlex.split(piece)
        if words[:3] == ["python3", "-m", "venv"]:
            import venv  # noqa: F401  (the module the command runs)
        elif words[0] in (".", "source"):
            assert words[1] == ".venv/bin/activate", piece
            assert (Path(sys.executable).parent / "activate").exists(), "the venv has no bin/activate"
        elif words[:3] == ["pip", "install", "-e"]:
            named = re.fullmatch(r"\.\[([\w,-]+)\]", words[3])
            assert named, f"unexpected install target in {piece!r}"
            missing = set(named.group(1).split(",")) - extras
            assert not missing, f"{block.id}: extras {sorted(missing)} are not in setup.py's extras_require"
        elif words[0] == "bash":
            script = REPO / words[1]
            assert script.is_file(), f"{block.id}: {words[1]} does not exist"
            _run(["bash", "-n", str(script)], workdir, block)
        elif words[:3] == ["python", "-m", "pytest"]:
            # the whole suite is CI's own job; one fast test file shows the command works
            _run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(REPO / "tests" / "model" / "test_config.py")],
                 workdir, block)
        elif words[0] == "paddle-electra":
            assert shutil.which("paddle-electra", path=_env(workdir)["PATH"]), "paddle-electra does not resolve"
            out = _run(words, workdir, block)
            assert out.strip(), f"{block.id}: {piece!r} printed nothing"
        else:
            raise AssertionError(f"{block.id}: no set-up check for {piece!r}")


def _check_synopsis(block: Block, workdir: Path) -> None:
    """Every command of a usage block has a --help listing every --flag the block shows."""
    text = re.sub(r"\\\n", " ", block.text)
    checked = 0
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.replace("[", " ").replace("]", " ").replace("|", " ").split()
        if words[0] == "paddle-electra":
            cmd, rest = ["paddle-electra"], words[1:]
        elif words[0] == "python" and len(words) > 1:
            n = 3 if words[1] == "-m" else 2  # python -m MODULE / python FILE
            cmd, rest = [sys.executable] + words[1:n], words[n:]
        else:
            continue
        if (cmd[0] == "paddle-electra" or cmd[1:3] == ["-m", "paddle_electra"]) and rest and not rest[0].startswith("-"):
            cmd.append(rest[0])  # the subcommand; later words are positional placeholders
        helptext = _run(cmd + ["--help"], workdir, block)
        for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", line):
            assert flag in helptext, f"{block.id}: {' '.join(cmd)} has no {flag} (line: {line!r})"
        checked += 1
    assert checked, f"{block.id}: a synopsis block with no command"


def _prerequisites(block: Block) -> list[Block]:
    """The blocks whose files `block` may use: the earlier ones of its document and the README's.

    Docs build on what came before (the README's Use block writes ``my-classifier``, which export,
    serving and the load test read), so a block selected alone (``-k``) replays them first.
    """
    return [b for b in RUN_BLOCKS[:RUN_BLOCKS.index(block)]
            if b.path == block.path or b.path.name == "README.md"]


def _run_block(block: Block, workdir: Path) -> None:
    lang = RUN_LANGS[block.lang]
    assert block.text.strip(), f"{block.id}: empty block"
    (workdir / "_block.txt").write_text(block.text, encoding="utf-8")
    if "output" in block.kinds:
        return
    if "setup" in block.kinds:
        _check_setup(block, workdir)
    elif "synopsis" in block.kinds:
        _check_synopsis(block, workdir)
    elif "reduced" in block.kinds:
        ruled = _apply_rules(block.payload, block.text)
        if ruled is not None:
            _run_script(lang, ruled, workdir, block)
        else:
            _run_script("bash", block.payload + "\n", workdir, block)
    else:
        _run_script(lang, block.text, workdir, block)


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.id for b in RUN_BLOCKS])
def test_doc_block(block: Block, workdir: Path, request):
    done = request.config.stash.setdefault(_DONE, set())
    for earlier in _prerequisites(block):
        if earlier.id not in done:
            done.add(earlier.id)  # tried once: a failure is reported here and by its own test
            try:
                _run_block(earlier, workdir)
            except (AssertionError, pytest.fail.Exception) as err:
                pytest.fail(f"{block.id}: the earlier block {earlier.id} it builds on failed:\n{err}")
    done.add(block.id)
    _run_block(block, workdir)


def test_readme_setup_commands_come_first():
    """The README opens with its two set-up commands (main job, tests), tagged as such."""
    readme = [b for b in RUN_BLOCKS if b.path.name == "README.md"]
    assert [("setup" in b.kinds) for b in readme[:2]] == [True, True], [b.id for b in readme[:2]]
    assert "paddle-electra fill-mask" in readme[0].text and "pytest" in readme[1].text


def test_every_tag_precedes_a_block():
    """A tag that no fenced block follows (a typo, a moved block) is an error, not a silent no-op."""
    for path in DOC_FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        tagged = {b.line for b in collect_blocks(path) if b.kinds}
        opened = [i for i, line in enumerate(lines) if TAG_OPEN in line]
        for i in opened:
            j = i
            while "-->" not in lines[j]:
                j += 1
            assert j + 2 in tagged, f"{path.name}:{i + 1}: a doc-test tag not right before a fenced block"
