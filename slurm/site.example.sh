# shellcheck shell=bash
# Site settings for slurm/*.sbatch (and hydra/launcher=slurm jobs): copy to slurm/site.sh,
# which git ignores, and edit. It is sourced on the compute node before training starts.
# Partition and account are needed at submission time instead: put
#   export SBATCH_PARTITION=gpu SBATCH_ACCOUNT=my-account
# in your shell profile (sbatch and the submitit launcher both read them).

# module purge
# module load cuda/12.4

# The environment `uv run` uses (default: .venv in the repository; a fast shared disk helps):
# export UV_PROJECT_ENVIRONMENT=/fast/$USER/rlvr-venv
# Caches and logs on scratch rather than $HOME:
# export HF_HOME=/scratch/$USER/hf
# export HF_HUB_OFFLINE=1                 # compute nodes without internet: pre-download models
# export RLVR_CACHE_DIR=/scratch/$USER/rlvr-cache
# export WANDB_MODE=online                # default offline; `wandb sync` the run dir later

# Defaults for the scripts (each can also be set per submission: VAR=... sbatch ...):
# export RLVR_ACCELERATE_CONFIG=zero2     # ddp | zero2 | zero3 | fsdp
# export RLVR_OUTPUT_ROOT=/scratch/$USER/rlvr-outputs
# export NCCL_SOCKET_IFNAME=ib0           # multi-node: the interface between nodes
