#!/usr/bin/env bash
# One command, on a machine with one CUDA GPU, <= 10 minutes: writes reports/gpu.md (see benchmarks/gpu.py) and
# prints the NB-201 SWAP bench throughput (archs/min of `swaplm bench nb201 --task cifar10 --proxies swap`).
# Run from the repository root after installing swaplm (README, first line; a CUDA build of torch).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: reports/gpu.md needs a GPU')"
timeout 600 python benchmarks/gpu.py --device cuda --out reports/gpu.md
