#!/usr/bin/env bash
# Peak memory of `bertscore` on the inputs issue 19 found unbounded, each run to completion (or to its refusal):
# one 50 MB line, a line of over 200k tokens in window mode (stride 1, refused by the window bound, and the
# default stride), and `matrix` 4096 × 40,000, with the default model. The inputs are made from the words of
# bert_score's benchmark references (datasets/bert-score-example/refs_long.txt), drawn with a seed, so every run
# of this script measures the same texts. Peak RSS and wall time come from GNU time (`apt-get install time`).
#
#   benches/bounded_memory.sh [CASE...]        (default: base line line-limit window-stride1 window matrix-small matrix)
#
# Cases:
#   base            one short pair: the model alone (what every other case pays too)
#   line            one 50 MB line against one short reference (truncation keeps the first 512 tokens)
#   line-limit      the same file with --max-line-bytes 16777216: refused naming the line (exit 2)
#   window          a line of LONG_WORDS words (over 200k tokens) in --long-texts window, default stride
#   window-stride1  the same with --window-stride 1: refused, it would need more than 16,384 windows (exit 2)
#   window-max      the same at the smallest stride the bound allows (about 16,000 windows; long: not by default)
#   matrix          `matrix` |A| = 4096 × |B| = 40,000 short lines into .npy files
#   matrix-small    the same with the first SMALL_A lines of A: memory does not grow with |A| × |B|
#
# Environment:
#   BERTSCORE    the binary (default target/x86_64-unknown-linux-gnu/release/bertscore, built if missing)
#   WORK         where inputs and outputs go (default /tmp/bertscore-bounded-memory; the matrix writes 3.9 GB there)
#   SEED         the inputs' seed (default 19)
#   LONG_WORDS   words in the window case's line (default 200000)
#   MATRIX_WORDS words per matrix line, "LO-HI" (default 3-8)
#   SMALL_A      lines of A in matrix-small (default 128)
#   LIMIT        seconds each run may take before `timeout` stops it (default 1500); a stopped run says so
#   THREADS      --threads (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BERTSCORE:-target/x86_64-unknown-linux-gnu/release/bertscore}"
work="${WORK:-/tmp/bertscore-bounded-memory}"
seed="${SEED:-19}"
long_words="${LONG_WORDS:-200000}"
matrix_words="${MATRIX_WORDS:-3-8}"
limit="${LIMIT:-1500}"
small_a="${SMALL_A:-128}"
threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
cases=("$@"); [ ${#cases[@]} -gt 0 ] || cases=(base line line-limit window-stride1 window matrix-small matrix)

[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
if [ ! -x "$bin" ]; then
    cargo build --release -p bertscore-cli --target x86_64-unknown-linux-gnu
fi
mkdir -p "$work/in-$seed"
in="$work/in-$seed"

# The inputs, once per seed and size.
python3 - "$in" "$seed" "$long_words" "$matrix_words" <<'PY'
import os, random, re, sys
out, seed, long_words, matrix_words = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lo, hi = (int(x) for x in matrix_words.split("-"))
text = open("datasets/bert-score-example/refs_long.txt", encoding="utf-8").read()
# Every occurrence of a plain word, so common words are drawn as often as they are used.
words = re.findall(r"[A-Za-z]+", text)
def make(name, write):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        rng = random.Random(f"{seed}:{name}")
        with open(path + ".part", "w", encoding="utf-8") as f:
            write(f, rng)
        os.replace(path + ".part", path)
def big_line(f, rng):
    size = 0
    while size < 50_000_000:
        chunk = " ".join(rng.choice(words) for _ in range(10_000)) + " "
        f.write(chunk)
        size += len(chunk)
    f.write("end\n")
def long_line(f, rng):
    f.write(" ".join(rng.choice(words) for _ in range(long_words)) + "\n")
def lines(count):
    def write(f, rng):
        for _ in range(count):
            f.write(" ".join(rng.choice(words) for _ in range(rng.randint(lo, hi))) + "\n")
    return write
make("ref.txt", lambda f, rng: f.write("the chef was found in the stairwell of a local mall\n"))
make("big.txt", big_line)
make(f"long-{long_words}.txt", long_line)
make(f"A-4096-{matrix_words}.txt", lines(4096))
make(f"B-40000-{matrix_words}.txt", lines(40000))
PY
head -n "$small_a" "$in/A-4096-$matrix_words.txt" > "$in/A-$small_a-$matrix_words.txt"
long="$in/long-$long_words.txt"
a="$in/A-4096-$matrix_words.txt"
b="$in/B-40000-$matrix_words.txt"

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $("$bin" --version | head -2 | tr '\n' ' ')"
echo "# seed $seed; big.txt $(stat -c %s "$in/big.txt") bytes; long line $long_words words; matrix lines $matrix_words words"
echo "| case | exit | peak RSS (MiB) | wall (s) | load (1 min) after | last line on stderr |"
echo "|---|---|---|---|---|---|"

# run CASE ARGS...: `bertscore ARGS` under GNU time and `timeout LIMIT`; one table row.
run() {
    local name="$1"; shift
    local log="$work/$name.stderr" times="$work/$name.time"
    local status=0
    /usr/bin/time -f '%M %e' -o "$times" timeout "$limit" "$bin" "$@" > "$work/$name.stdout" 2> "$log" || status=$?
    local kib wall
    read -r kib wall < <(tail -n 1 "$times")
    local note
    note="$(tr '\r' '\n' < "$log" | { grep -v '^\s*$' || true; } | tail -n 1 | cut -c1-260 | sed 's/|/\\|/g')"
    [ "$status" -eq 124 ] && note="STOPPED by timeout $limit s, not finished; $note"
    printf '| %s | %s | %d | %s | %s | %s |\n' "$name" "$status" $((kib / 1024)) "$wall" \
        "$(cut -d' ' -f1 /proc/loadavg)" "$note"
}

window_stride() {
    # The smallest stride giving at most 16,384 windows, as the stride-1 refusal names it.
    sed -n 's/.*use a stride of at least \([0-9]*\).*/\1/p' "$work/window-stride1.stderr"
}

for case in "${cases[@]}"; do
    case "$case" in
        base) run base score -c "$in/ref.txt" -r "$in/ref.txt" "${threads[@]}" ;;
        line) run line score -c "$in/big.txt" -r "$in/ref.txt" "${threads[@]}" ;;
        line-limit) run line-limit score -c "$in/big.txt" -r "$in/ref.txt" --max-line-bytes 16777216 "${threads[@]}" ;;
        window-stride1)
            run window-stride1 score -c "$long" -r "$in/ref.txt" --long-texts window --window-stride 1 "${threads[@]}" ;;
        window) run window score -c "$long" -r "$in/ref.txt" --long-texts window "${threads[@]}" ;;
        window-max)
            [ -s "$work/window-stride1.stderr" ] || run window-stride1 score -c "$long" -r "$in/ref.txt" \
                --long-texts window --window-stride 1 "${threads[@]}"
            run window-max score -c "$long" -r "$in/ref.txt" --long-texts window \
                --window-stride "$(window_stride)" "${threads[@]}" ;;
        matrix-small)
            mkdir -p "$work/out-small"
            run matrix-small matrix -c "$in/A-$small_a-$matrix_words.txt" -r "$b" --output-dir "$work/out-small" \
                "${threads[@]}" ;;
        matrix)
            mkdir -p "$work/out"
            run matrix matrix -c "$a" -r "$b" --output-dir "$work/out" "${threads[@]}" ;;
        *) echo "unknown case $case" >&2; exit 2 ;;
    esac
done
