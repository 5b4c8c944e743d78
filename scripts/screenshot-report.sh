#!/usr/bin/env bash
# Renders the `bertscore compare` HTML report of the example set in headless Chromium and saves a screenshot.
#   scripts/screenshot-report.sh [OUT.png]    (default docs/compare-report.png)
# Needs Chromium (Debian: apt-get install chromium). The page is self-contained, so Chromium is started with
# its network features off; a page that needed the network would render broken here.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/compare-report.png}"
chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [[ -z "$chromium" ]]; then
    echo "error: Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo run --quiet -p bertscore-cli -- compare \
    datasets/dialogsum/base.jsonl datasets/dialogsum/custom.jsonl \
    --html "$work/report.html" --heatmap dialogsum-02 >/dev/null
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --hide-scrollbars --window-size=1200,2400 \
    --screenshot="$work/shot.png" "file://$work/report.html" 2>"$work/chromium.log" || {
    cat "$work/chromium.log" >&2
    exit 4
}
mkdir -p "$(dirname "$out")"
mv "$work/shot.png" "$out"
echo "wrote $out"
