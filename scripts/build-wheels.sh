#!/usr/bin/env bash
# Builds the release wheels for x86_64 Linux into target/wheels (or $1):
#   bertscore_rs           the Python module (abi3: one wheel for CPython >= 3.9), crates/python
#   bertscore_rs_cli       the `bertscore` command (maturin `bin` bindings), crates/python/commands/bertscore
#   bertscore_rs_pipeline  the `bertscore-pipeline` command, crates/python/commands/bertscore-pipeline
# Tag: manylinux2014 (glibc 2.17), the oldest glibc Rust supports: installs on every maintained x86_64 distribution,
# Amazon Linux 2 (glibc 2.26, where 2_28 wheels do not install) and RHEL/CentOS 7 included. maturin links against
# that glibc with zig (`--zig`, the ziglang package from PyPI), no docker needed; TLS is rustls (no OpenSSL).
# maturin checks the manylinux policy while building; `auditwheel show` prints the result for each wheel.
# Tools (maturin, ziglang, auditwheel) go into their own virtual environment, target/wheel-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${1:-target/wheels}")
tools=$root/target/wheel-tools

[[ -x $tools/bin/python ]] || python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check \
    'maturin>=1.9,<2' 'ziglang>=0.13' 'auditwheel>=6'

mkdir -p "$out"
rm -f "$out"/bertscore_rs-*.whl "$out"/bertscore_rs_cli-*.whl "$out"/bertscore_rs_pipeline-*.whl
# One target directory for the three builds, so they share the compiled dependencies (release profile, zig's
# glibc 2.17 target).
export CARGO_TARGET_DIR=$root/target
export PATH=$tools/bin:$PATH
start=$SECONDS
for project in crates/python crates/python/commands/bertscore crates/python/commands/bertscore-pipeline; do
    (cd "$project" && maturin build --release --locked --zig --compatibility manylinux2014 \
        --target x86_64-unknown-linux-gnu --out "$out")
done
echo "built in $((SECONDS - start)) s:"
for wheel in "$out"/bertscore_rs-*.whl "$out"/bertscore_rs_cli-*.whl "$out"/bertscore_rs_pipeline-*.whl; do
    echo "$(du -h "$wheel" | cut -f1) $wheel"
    auditwheel show "$wheel"
done
