"""Allow-list: programs that read files and text (coreutils, grep, find, tar …).

Left out on purpose (they ask): recursive content readers (`grep -r`, `rg`, `diff -r`),
pagers (`less`, `more`: LESSOPEN runs programs), options that write (`sort -o`, `tree -o`,
`xxd IN OUT`, `uniq IN OUT`), options that run programs (`sort --compress-program`,
`tar --checkpoint-action`, `tar -I`), options that read a list of files or patterns from a
file (`--files0-from`, `-f FILE`, `--exclude-from`), and `tail -f` (never ends).
"""

from __future__ import annotations

from opscopilot.tools.commands.allowed import Allowed, Program, allowed, file_problem, refused
from opscopilot.tools.option_tables import (
    NUMBER,
    OptionTable,
    WordTable,
    parse_options,
    parse_words,
)


def gnu(name: str, options: str, **kw: object) -> Program:
    """A GNU program: getopt_long, so unique prefixes of long options count."""
    return Program(name, options, abbreviations="gnu", **kw)  # type: ignore[arg-type]


_GREP = (
    "-i/-y/--ignore-case --no-ignore-case -v/--invert-match -c/--count -l/--files-with-matches "
    "-L/--files-without-match -n/--line-number -h/--no-filename -H/--with-filename "
    "-o/--only-matching -q/--quiet/--silent -s/--no-messages -w/--word-regexp -x/--line-regexp "
    "-E/--extended-regexp -F/--fixed-strings -G/--basic-regexp -P/--perl-regexp -a/--text -I "
    "-z/--null-data -Z/--null -b/--byte-offset -T/--initial-tab -U/--binary --line-buffered "
    "--color[=WHEN] --colour[=WHEN] -e/--regexp=PATTERN -m/--max-count=N -A/--after-context=N "
    "-B/--before-context=N -C/--context=N --label=LABEL --binary-files=TYPE --include=GLOB "
    "--exclude=GLOB --exclude-dir=GLOB --no-group-separator --group-separator=SEP --help -V/--version"
)

_GREP_OTHERS = (
    "--file --recursive --dereference-recursive --directories --devices --exclude-from --null-data"
)

PROGRAMS = [
    gnu(
        "cat",
        "-A/--show-all -b/--number-nonblank -e -E/--show-ends -n/--number -s/--squeeze-blank "
        "-t -T/--show-tabs -u -v/--show-nonprinting --help --version",
        operands="files",
    ),
    gnu("tac", "-b/--before -r/--regex -s/--separator=SEP --help --version", operands="files"),
    gnu(
        "head",
        "-c/--bytes=N -n/--lines=N -q/--quiet/--silent -v/--verbose -z/--zero-terminated "
        "--help --version",
        operands="files",
        numeric=True,
    ),
    gnu(
        "tail",
        "-c/--bytes=N -n/--lines=N -q/--quiet/--silent -v/--verbose -z/--zero-terminated "
        "--help --version",
        operands="files",
        numeric=True,
    ),
    gnu("grep", _GREP, operands="pattern+files", numeric=True, others=_GREP_OTHERS),
    gnu("egrep", _GREP, operands="pattern+files", numeric=True, others=_GREP_OTHERS),
    gnu("fgrep", _GREP, operands="pattern+files", numeric=True, others=_GREP_OTHERS),
    Program("zgrep", _GREP, operands="pattern+files", numeric=True),  # a script: no prefixes
    gnu(
        "wc",
        "-c/--bytes -m/--chars -l/--lines -L/--max-line-length -w/--words --help --version",
        operands="files",
    ),
    gnu(
        "ls",
        "-a/--all -A/--almost-all --author -b/--escape --block-size=SIZE -B/--ignore-backups -c "
        "-C --color[=WHEN] -d/--directory -D/--dired -f -F/--classify[=WHEN] --file-type "
        "--format=WORD --full-time -g --group-directories-first -G/--no-group "
        "-h/--human-readable --si -H/--dereference-command-line "
        "--dereference-command-line-symlink-to-dir --hide=PATTERN --hyperlink[=WHEN] "
        "--indicator-style=WORD -i/--inode -I/--ignore=PATTERN -k/--kibibytes -l -L/--dereference "
        "-m -n/--numeric-uid-gid -N/--literal -o -p -q/--hide-control-chars --show-control-chars "
        "-Q/--quote-name --quoting-style=WORD -r/--reverse -R/--recursive -s/--size -S "
        "--sort=WORD --time=WORD --time-style=STYLE -t -T/--tabsize=COLS -u -U -v "
        "-w/--width=COLS -x -X -Z/--context --zero -1 --help --version",
        operands="files",
    ),
    gnu(
        "stat",
        "-L/--dereference -f/--file-system -c/--format=FORMAT --printf=FORMAT -t/--terse "
        "--cached=MODE --help --version",
        operands="files",
    ),
    Program(
        "file",
        "-b/--brief -i/--mime --mime-type --mime-encoding -L/--dereference -h/--no-dereference "
        "-z/--uncompress -Z/--uncompress-noreport -k/--keep-going -r/--raw -N/--no-pad "
        "-0/--print0 -E --extension --apple -p/--preserve-date --help -v/--version",
        operands="files",
        abbreviations="gnu",
    ),
    gnu(
        "du",
        "-0/--null -a/--all --apparent-size -B/--block-size=SIZE -b/--bytes "
        "-c/--total -D/--dereference-args -d/--max-depth=N -H -h/--human-readable --inodes "
        "-k -L/--dereference -l/--count-links -m -P/--no-dereference -S/--separate-dirs --si "
        "-s/--summarize -t/--threshold=SIZE --time[=WORD] --time-style=STYLE "
        "--exclude=PATTERN -x/--one-file-system --help --version",
        operands="files",
    ),
    gnu(
        "df",
        "-a/--all -B/--block-size=SIZE -h/--human-readable -H/--si -i/--inodes -k -l/--local "
        "--no-sync --output[=FIELDS] -P/--portability --sync --total -t/--type=TYPE "
        "-T/--print-type -x/--exclude-type=TYPE -v --help --version",
        operands="files",
    ),
    gnu(
        "cut",
        "-b/--bytes=LIST -c/--characters=LIST -d/--delimiter=DELIM -f/--fields=LIST -n "
        "--complement -s/--only-delimited --output-delimiter=STRING -z/--zero-terminated "
        "--help --version",
        operands="files",
    ),
    gnu(
        "tr",
        "-c/-C/--complement -d/--delete -s/--squeeze-repeats -t/--truncate-set1 --help --version",
    ),
    Program(
        "column",
        "-t/--table -s/--separator=SEP -o/--output-separator=SEP -c/--output-width=N -x/--fillrows "
        "-n/--table-name=NAME -N/--table-columns=NAMES -R/--table-right=COLS -T/--table-truncate=COLS "
        "-H/--table-hide=COLS -J/--json -e/--table-header-repeat -L/--keep-empty-lines "
        "-r/--tree=COL -i/--tree-id=COL -p/--tree-parent=COL -h/--help -V/--version",
        operands="files",
        abbreviations="gnu",
    ),
    gnu(
        "nl",
        "-b/--body-numbering=STYLE -d/--section-delimiter=CC -f/--footer-numbering=STYLE "
        "-h/--header-numbering=STYLE -i/--line-increment=N -l/--join-blank-lines=N "
        "-n/--number-format=FORMAT -p/--no-renumber -s/--number-separator=STRING "
        "-v/--starting-line-number=N -w/--number-width=N --help --version",
        operands="files",
    ),
    Program("rev", "-0/--zero -h/--help -V/--version", operands="files", abbreviations="gnu"),
    gnu("fold", "-b/--bytes -s/--spaces -w/--width=WIDTH --help --version", operands="files"),
    gnu(
        "sort",
        "-b/--ignore-leading-blanks -d/--dictionary-order -f/--ignore-case -g/--general-numeric-sort "
        "-i/--ignore-nonprinting -M/--month-sort -h/--human-numeric-sort -n/--numeric-sort "
        "-R/--random-sort -r/--reverse -V/--version-sort --sort=WORD -c --check[=WHEN] -C "
        "-k/--key=KEYDEF -m/--merge -s/--stable -t/--field-separator=SEP -u/--unique "
        "-z/--zero-terminated --debug --parallel=N -S/--buffer-size=SIZE --help --version",
        operands="files",
    ),
    gnu(
        "uniq",
        "-c/--count -d/--repeated -D --all-repeated[=METHOD] -f/--skip-fields=N "
        "--group[=METHOD] -i/--ignore-case -s/--skip-chars=N -u/--unique -z/--zero-terminated "
        "-w/--check-chars=N --help --version",
        operands="files",
        max_operands=1,  # a second operand is the file uniq writes
    ),
    Program(
        "zcat",
        "-f/--force -q/--quiet -v/--verbose -h/--help -V/--version",
        operands="files",
        abbreviations="gnu",
    ),
    Program(
        "bzcat",
        "-s/--small -q/--quiet -v/--verbose -h/--help -V/--version",
        operands="files",
    ),
    Program(
        "xzcat",
        "-q/--quiet -v/--verbose -h/--help -V/--version",
        operands="files",
        abbreviations="gnu",
    ),
    *[
        gnu(
            name,
            "-b/--binary -t/--text -c/--check --tag -z/--zero --ignore-missing --quiet --status "
            "--strict -w/--warn --help --version",
            operands="files",
        )
        for name in (
            "md5sum",
            "sha1sum",
            "sha224sum",
            "sha256sum",
            "sha384sum",
            "sha512sum",
            "b2sum",
        )
    ],
    gnu(
        "cksum",
        "-a/--algorithm=TYPE -l/--length=N --tag --untagged --help --version",
        operands="files",
    ),
    Program(
        "tree",
        "-a -d -l -f -x -L=LEVEL -R -P=PATTERN -I=PATTERN --gitignore --ignore-case --matchdirs "
        "--metafirst --prune --info --noreport --charset=CHARSET --filelimit=N -q -N -Q -p -u -g "
        "-s -h --si --du -D --timefmt=FORMAT -F --inodes --device -v -t -c -U -r --dirsfirst "
        "--filesfirst --sort=TYPE -i -A -S -n -C -X -J --help --version",
        operands="files",
    ),
    gnu(
        "strings",
        "-a/--all -d/--data -f/--print-file-name -n/--bytes=N -t/--radix=RADIX "
        "-e/--encoding=ENC -w/--include-all-whitespace -s/--output-separator=SEP "
        "-U/--unicode=MODE -h/--help -v/-V/--version",
        operands="files",
        numeric=True,
    ),
    gnu(
        "od",
        "-A/--address-radix=RADIX --endian=ORDER -j/--skip-bytes=N -N/--read-bytes=N "
        "-S/--strings[=N] -t/--format=TYPE -v/--output-duplicates -w/--width[=N] --traditional "
        "-a -b -c -d -f -i -l -o -s -x --help --version",
        operands="files",
    ),
    Program(
        "hexdump",
        "-b/--one-byte-octal -c/--one-byte-char -C/--canonical "
        "-d/--two-bytes-decimal -o/--two-bytes-octal -x/--two-bytes-hex -e/--format=FORMAT "
        "-L/--color[=WHEN] -n/--length=N -s/--skip=N -v/--no-squeezing -h/--help -V/--version",
        operands="files",
        abbreviations="gnu",
    ),
    gnu(
        "diff",
        "--normal -q/--brief -s/--report-identical-files -c -C/--context=N -u -U/--unified=N "
        "-e/--ed -n/--rcs -y/--side-by-side -W/--width=N --left-column --suppress-common-lines "
        "-p/--show-c-function -F/--show-function-line=RE --label=LABEL -t/--expand-tabs "
        "-T/--initial-tab --tabsize=N --suppress-blank-empty -l/--paginate -i/--ignore-case "
        "-E/--ignore-tab-expansion -Z/--ignore-trailing-space -b/--ignore-space-change "
        "-w/--ignore-all-space -B/--ignore-blank-lines -I/--ignore-matching-lines=RE -a/--text "
        "--strip-trailing-cr -d/--minimal --horizon-lines=N --speed-large-files --color[=WHEN] "
        "--help -v/--version",
        operands="files",
        max_operands=2,
    ),
    gnu(
        "cmp",
        "-b/--print-bytes -i/--ignore-initial=SKIP -l/--verbose -n/--bytes=LIMIT -s/--quiet/--silent "
        "--help -v/--version",
        operands="files",
        max_operands=2,
    ),
    gnu(
        "realpath",
        "-e/--canonicalize-existing -m/--canonicalize-missing -L/--logical -P/--physical -q/--quiet -s/--strip/--no-symlinks -z/--zero --relative-to=DIR --relative-base=DIR --help --version",
    ),
    gnu(
        "readlink",
        "-f/--canonicalize -e/--canonicalize-existing -m/--canonicalize-missing -n/--no-newline -q/--quiet -s/--silent -v/--verbose -z/--zero --help --version",
    ),
    gnu("basename", "-a/--multiple -s/--suffix=SUFFIX -z/--zero --help --version"),
    gnu("dirname", "-z/--zero --help --version"),
    Program(
        "namei",
        "-x/--mountpoints -m/--modes -o/--owners -l/--long -n/--nosymlinks -v/--vertical -h/--help -V/--version",
        abbreviations="gnu",
    ),
    gnu("pwd", "-L/--logical -P/--physical --help --version", operands="none"),
    Program("echo", "-n -e -E"),
    Program("printf"),
    Program("true"),
    Program("false"),
    Program("test"),
    Program("expr"),
    gnu("seq", "-f/--format=FORMAT -s/--separator=STRING -w/--equal-width --help --version"),
    gnu("sleep", "--help --version"),
]


# --- find: an expression language of its own (every word after the paths is a primary) -------

_FIND = WordTable.of(
    # Tests and options that only look at names and metadata, and print them.
    "-empty -readable -writable -executable -nouser -nogroup -true -false -print -print0 -ls "
    "-prune -quit -depth -d -xdev -mount -follow -noleaf -daystart -ignore_readdir_race "
    "-noignore_readdir_race -not -a -and -o -or ( ) ! , -help --help -version --version",
    "-name -iname -path -ipath -wholename -iwholename -regex -iregex -lname -ilname -type "
    "-xtype -size -mtime -mmin -atime -amin -ctime -cmin -used -newer -anewer -cnewer -user "
    "-group -uid -gid -perm -links -inum -samefile -fstype -regextype -maxdepth -mindepth "
    "-printf",
    files="-newer -anewer -cnewer -samefile",
)


def find(args: list[str], cwd: str | None) -> Allowed:
    """`find [-H|-L|-P] PATH… EXPRESSION`: read when every primary is on the list."""
    i = 0
    while i < len(args) and args[i] in ("-H", "-L", "-P"):
        i += 1
    paths: list[str] = []
    while i < len(args) and not args[i].startswith("-") and args[i] not in ("(", ")", "!", ","):
        paths.append(args[i])
        i += 1
    parsed = parse_words(args[i:], _FIND)
    if parsed.problem:
        return refused(f"find: {parsed.problem} (only tests and printing run without asking)")
    if parsed.operands:
        return refused(f"find: {parsed.operands[0]!r} is not an allowed primary")
    for path in paths + [v for spec, v in parsed.options if spec.reads_file and v]:
        if why := file_problem(path, cwd):
            return refused(f"find: {why}")
    return allowed("find only lists names")


# --- xxd: its own parser (whole words; `xxd IN OUT` writes OUT) -----------------------------

_XXD = WordTable.of(
    "-a -autoskip -b -bits -C -capitalize -E -EBCDIC -e -h -help -i -include -p -ps -postscript "
    "-plain -u -v -version",
    l=NUMBER,
    len=NUMBER,
    s=NUMBER,
    seek=NUMBER,
    c=NUMBER,
    cols=NUMBER,
    g=NUMBER,
    groupsize=NUMBER,
    o=NUMBER,
)


def xxd(args: list[str], cwd: str | None) -> Allowed:
    parsed = parse_words(args, _XXD)
    if parsed.problem:
        return refused(f"xxd: {parsed.problem}")
    if len(parsed.operands) > 1:
        return refused("xxd IN OUT writes OUT")
    for path in parsed.operands:
        if why := file_problem(path, cwd):
            return refused(f"xxd: {why}")
    return allowed("xxd only reads")


# --- tar: only listing an archive ---------------------------------------------------------------

_TAR = OptionTable.of(
    "-t/--list -f/--file=ARCHIVE -v/--verbose -z/--gzip/--gunzip/--ungzip -j/--bzip2 -J/--xz "
    "--lzma --lzip --lzop --zstd -a/--auto-compress --numeric-owner --full-time --utc "
    "--wildcards --no-wildcards --anchored --no-anchored --ignore-case --exclude=PATTERN "
    "-b/--blocking-factor=N -B/--read-full-records -i/--ignore-zeros --occurrence[=N] "
    "-R/--block-number --quoting-style=STYLE --show-transformed-names -w/--interactive "
    "--force-local --help --usage --version",
    abbreviations="gnu",
)
_TAR_OLD_VALUE = set("fbCTXgFIKLNV")  # letters of the old `tar tvf A` form that take a value


def tar(args: list[str], cwd: str | None) -> Allowed:
    """`tar -t…` / `tar t…` / `tar --list`: listing only; the archive is a local file."""
    if args and not args[0].startswith("-"):
        args = _tar_old_style(args)
        if not args:
            return refused("tar: old-style options not understood")
    parsed = parse_options(args, _TAR)
    if parsed.problem:
        return refused(f"tar: {parsed.problem}")
    if parsed.has("-w", "--interactive"):
        return refused("tar -w asks on the terminal")
    if not parsed.has("-t", "--list"):
        return refused("tar without -t extracts or creates archives")
    for archive in parsed.values("-f", "--file"):
        if ":" in archive and not parsed.has("--force-local"):
            return refused(f"tar -f {archive}: a host:file archive runs a remote shell")
        if why := file_problem(archive, cwd):
            return refused(f"tar -f: {why}")
    return allowed("tar -t only lists an archive")


def _tar_old_style(args: list[str]) -> list[str]:
    """`tar tvfb A 20 …` as getopt would read it: each value letter takes the next word."""
    letters, rest = args[0], list(args[1:])
    out: list[str] = []
    for letter in letters:
        if letter in _TAR_OLD_VALUE:
            if not rest:
                return []
            out += [f"-{letter}", rest.pop(0)]
        else:
            out.append(f"-{letter}")
    return out + rest
