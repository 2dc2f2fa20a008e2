#!/usr/bin/env bash
# DemP vs EarlyCroP-S vs network slimming on digits, with replicates, compared by
# `demp sweep compare` (the tables in docs/BENCHMARKS.md "Method comparison with replicates").
# Every method: its compare spec (24 TPE trials, equal budgets), then its frontier's
# configurations re-run on 2 more seeds (3 in all), W&B off.
#   bash bench/compare_replicated.sh mlp|cnn [OUTPUT_ROOT]
set -euo pipefail
arch=${1:-mlp}
root=${2:-sweeps_out/replicated}
prefix=digits-compare
[ "$arch" = cnn ] && prefix=digits-cnn-compare
dirs=()
for method in demp earlycrop slimming; do
  python -m demp sweep run "sweeps/$prefix-$method.yaml" --quiet --set "output_root=$root" \
    --set wandb.mode=disabled --set replicates.seeds=3 --set replicates.stage=frontier \
    || [ $? -eq 3 ]   # some failed trials are an outcome here, not a reason to stop
  dirs+=("$root/$prefix-$method")
done
python -m demp sweep compare "${dirs[@]}" --at-sparsity 0.8,0.9 --output "$root/$prefix.png"
python -m demp sweep compare "${dirs[@]}" --at-sparsity 0.8,0.9 --format json > "$root/$prefix.json"
