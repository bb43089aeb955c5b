"""Allow-list: git's reading verbs.

git's option parser accepts unique prefixes of some long options, but not all of them
(the revision and diff options match exactly), so this table matches exactly: an
abbreviation asks. Paths must stay inside the repository: an absolute path or `..`
makes `git diff` compare files outside it (as `--no-index` would).
Left out on purpose (they ask): `-c`, `--exec-path=`, `--git-dir`, `--work-tree`,
`-p/--paginate`, `--output=FILE`, `--ext-diff`, `--textconv`, `--no-index`,
`grep -O/--open-files-in-pager`, `grep -f FILE`, `blame --contents FILE`,
`ls-remote` (its `--upload-pack` runs any program), `remote show` (contacts the remote),
`config --file`, `help` (runs man or a browser), and every verb that changes the repository.
Hostile-repository limit: a repository's own config (`core.fsmonitor`, diff textconv
drivers) can make `git status`/`git diff` run programs; the OS sandbox is what makes that
harmless.
"""

from __future__ import annotations

import os

from opscopilot.tools.commands.allowed import Program
from opscopilot.tools.option_tables import ParsedOptions


def _inside_repository(operands: list[str], parsed: ParsedOptions) -> str | None:
    for word in operands:
        path = word.split(":", 1)[1] if ":" in word else word
        if path.startswith(("/", "~")) or ".." in path.split("/") or ".." in path.split(os.sep):
            return f"{word!r} reaches outside the repository"
    return None


def _git(name: str, options: str = "", **kw: object) -> Program:
    kw.setdefault("operand_check", _inside_repository)
    return Program(name, options, numeric=True, **kw)  # type: ignore[arg-type]


_LOG = (
    "-n/--max-count=N --skip=N --since=DATE --after=DATE --until=DATE --before=DATE "
    "--author=PATTERN --committer=PATTERN --grep=PATTERN --all-match --invert-grep "
    "-i/--regexp-ignore-case -E/--extended-regexp -F/--fixed-strings --merges --no-merges "
    "--first-parent --all --branches[=PATTERN] --tags[=PATTERN] --remotes[=PATTERN] "
    "--oneline --graph --decorate[=HOW] --no-decorate --abbrev-commit --no-abbrev-commit "
    "--abbrev[=N] --pretty[=FORMAT] --format=FORMAT --date=FORMAT --relative-date "
    "--reverse --date-order --topo-order --author-date-order --follow --stat[=WIDTH] "
    "--shortstat --numstat --name-only --name-status --summary -p/-u/--patch -s/--no-patch "
    "-U/--unified=N -w/--ignore-all-space -b/--ignore-space-change --color[=WHEN] "
    "--no-color --no-renames -M -C --left-right --cherry-pick --boundary --ancestry-path "
    "-S=STRING -G=REGEX --diff-filter=FILTER -L=RANGE --show-signature --no-walk[=HOW] "
    "--simplify-by-decoration --full-history --no-textconv --no-ext-diff"
)
_DIFF = (
    "--cached --staged --stat[=WIDTH] --shortstat --numstat --name-only --name-status "
    "--summary -p/-u/--patch -s/--no-patch -U/--unified=N -w/--ignore-all-space "
    "-b/--ignore-space-change --ignore-blank-lines -R --color[=WHEN] --no-color "
    "--word-diff[=MODE] --check --exit-code --quiet -M -C --no-renames --diff-filter=FILTER "
    "--merge-base --minimal --patience --histogram --no-textconv --no-ext-diff --dirstat[=PARAM]"
)

GIT = Program(
    "git",
    "-C=PATH --no-pager -P --no-optional-locks --literal-pathspecs --no-replace-objects --version",
    verbs={
        "status": _git(
            "status",
            "-s/--short -b/--branch --porcelain[=VERSION] --long -v/--verbose "
            "-u/--untracked-files[=MODE] --ignored[=MODE] --ignore-submodules[=WHEN] "
            "--show-stash --ahead-behind --no-ahead-behind -z --renames --no-renames "
            "--column[=OPTIONS] --no-column",
        ),
        "log": _git("log", _LOG),
        "whatchanged": _git("whatchanged", _LOG),
        "shortlog": _git("shortlog", _LOG + " -e/--email -c/--committer --group=TYPE"),
        "show": _git("show", _LOG),
        "diff": _git("diff", _DIFF),
        "blame": _git(
            "blame",
            "-L=RANGE -l -t -s -e/--show-email -w -M -C -f/--show-name -n/--show-number "
            "-p/--porcelain --line-porcelain --incremental -c --root --show-stats --abbrev=N "
            "--date=FORMAT --since=DATE --color-lines --color-by-age --progress --no-progress",
        ),
        "grep": _git(
            "grep",
            "--cached --untracked --no-exclude-standard --exclude-standard -a/--text "
            "-i/--ignore-case -I -w/--word-regexp -v/--invert-match -h -H --full-name "
            "-E/--extended-regexp -G/--basic-regexp -F/--fixed-strings -P/--perl-regexp "
            "-n/--line-number --column -l/--files-with-matches -L/--files-without-match "
            "-c/--count --color[=WHEN] --no-color --break --heading -p/--show-function "
            "-A/--after-context=N -B/--before-context=N -C/--context=N -W/--function-context "
            "-m/--max-count=N --max-depth=N -r/--recursive --no-recursive -o/--only-matching "
            "-q/--quiet --and --or --not --all-match -e=PATTERN -z/--null --threads=N",
        ),
        "ls-files": _git(
            "ls-files",
            "-c/--cached -d/--deleted -m/--modified -o/--others -i/--ignored -s/--stage "
            "-u/--unmerged -k/--killed --directory --no-empty-directory --eol -z --deduplicate "
            "-x/--exclude=PATTERN --exclude-standard --error-unmatch --full-name --abbrev[=N] "
            "-t -v -f --debug --recurse-submodules",
        ),
        "ls-tree": _git(
            "ls-tree",
            "-d -r -t -l/--long -z --name-only --name-status --object-only "
            "--full-name --full-tree --abbrev[=N] --format=FORMAT",
        ),
        "rev-parse": _git(
            "rev-parse",
            "--abbrev-ref[=MODE] --short[=N] --verify -q/--quiet --symbolic --symbolic-full-name "
            "--show-toplevel --show-prefix --show-cdup --git-dir --absolute-git-dir "
            "--git-common-dir --is-inside-work-tree --is-inside-git-dir --is-bare-repository "
            "--is-shallow-repository --show-superproject-working-tree --all --branches "
            "--tags --remotes --default=REV",
        ),
        "rev-list": _git("rev-list", _LOG + " --count --objects"),
        "describe": _git(
            "describe",
            "--tags --all --always --long --abbrev=N --contains --exact-match "
            "--first-parent --dirty[=MARK] --broken[=MARK] --candidates=N --match=PATTERN "
            "--exclude=PATTERN",
        ),
        "cat-file": _git("cat-file", "-t -s -e -p --allow-unknown-type"),
        "branch": _git(
            "branch",
            "-a/--all -r/--remotes -v/--verbose -l/--list --show-current --contains=COMMIT "
            "--no-contains=COMMIT --merged=COMMIT --no-merged=COMMIT --points-at=OBJECT "
            "--sort=KEY --format=FORMAT --color[=WHEN] --no-color --column[=OPTIONS] "
            "--no-column --abbrev=N --no-abbrev -i/--ignore-case",
            operand_check=lambda ops, parsed: (
                None if not ops or parsed.has("--list") else "git branch NAME creates a branch"
            ),
        ),
        "tag": _git(
            "tag",
            "-l/--list -n=N --contains=COMMIT --no-contains=COMMIT --merged=COMMIT "
            "--no-merged=COMMIT --points-at=OBJECT --sort=KEY --format=FORMAT --color[=WHEN] "
            "-i/--ignore-case --column[=OPTIONS] --no-column",
            operand_check=lambda ops, parsed: (
                None if not ops or parsed.has("--list") else "git tag NAME creates a tag"
            ),
        ),
        "stash": _git(
            "stash",
            verbs={
                "list": _git("list", _LOG),
                "show": _git("show", _DIFF + " --include-untracked --only-untracked"),
            },
        ),
        "remote": _git(
            "remote",
            "-v/--verbose",
            default_verb="",
            verbs={
                "": _git("", operands="none"),
                "get-url": _git("get-url", "--push --all", max_operands=1, min_operands=1),
            },
        ),
        "reflog": _git(
            "reflog",
            _LOG,
            default_verb="show",
            verbs={"show": _git("show", _LOG), "list": _git("list", operands="none")},
        ),
        "config": _git(
            "config",
            "--get --get-all --get-regexp -l/--list --show-origin --show-scope --global "
            "--system --local --worktree --name-only -z/--null --type=TYPE --bool --int "
            "--default=VALUE",
            max_operands=2,
            operand_check=lambda ops, parsed: (
                None
                if parsed.has("--get", "--get-all", "--get-regexp", "--list")
                else "git config without --get/--list changes the configuration"
            ),
        ),
        "version": _git("version", "--build-options", operands="none"),
    },
)

PROGRAMS = [GIT]
